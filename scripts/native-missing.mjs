// npm install hook, run when `node-gyp rebuild` failed: the package still
// works on the pure TypeScript engine, so say why and how to get the addon.
process.stderr.write(
  '\nflowmaster: the native addon did not build (see the compiler output above).\n' +
    'flowmaster will use its pure TypeScript engine (the same flows, slower).\n' +
    'For the native engine install a C++ compiler and libpcap headers, then rebuild:\n' +
    '  Debian/Ubuntu: apt-get install -y g++ make python3 libpcap-dev && npm rebuild flowmaster\n\n',
);
