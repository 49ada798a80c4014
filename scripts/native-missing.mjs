// npm install hook, run when node-gyp-build found no prebuilt binary for this
// platform and building from source failed: the package still works on its
// pure TypeScript engine, so say why and how to get the native one.
process.stderr.write(
  '\nflowmaster: no prebuilt native addon for ' + `${process.platform}-${process.arch}` + ' and building it failed (see above).\n' +
    'flowmaster will use its pure TypeScript engine (the same flows, slower; no live capture).\n' +
    'For the native engine install a C++ compiler, make and python3, then rebuild:\n' +
    '  Debian/Ubuntu: apt-get install -y g++ make python3 && npm rebuild flowmaster --build-from-source\n\n',
);
