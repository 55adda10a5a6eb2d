// Stops `npm install`, `npm run demo` and friends on a Node.js too old for this project, with one line
// that says so, instead of ERR_UNKNOWN_FILE_EXTENSION or "Map.groupBy is not a function" later on.
// Plain CommonJS with ES5 syntax only, so that any Node.js (even 0.x) can run it.
var parts = process.versions.node.split('.');
var major = Number(parts[0]);
var minor = Number(parts[1]);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    'queue-job-runner needs Node >= 22.18 (this is ' +
      process.version +
      '): install Node.js 22.18 or newer (24 LTS recommended).\n',
  );
  process.exit(1);
}
