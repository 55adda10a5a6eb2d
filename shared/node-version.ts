/**
 * Imported first by every entry point (the command, the demo): on a Node.js older than 22.18 it stops
 * with one line saying so, before a module that needs a newer one fails with an obscure error
 * (`Map.groupBy is not a function`). Only syntax and APIs that Node.js 14 has.
 */
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `queue-job-runner needs Node >= 22.18 (this is ${process.version}): install Node.js 22.18 or newer (24 LTS recommended).\n`,
  );
  process.exit(1);
}
