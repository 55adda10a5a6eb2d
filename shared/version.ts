/** The runner's release (package.json's version; a test keeps them equal). */
export const VERSION = '0.2.0';
