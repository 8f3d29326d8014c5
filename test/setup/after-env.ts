// A promise rejected with nobody listening is a bug in the code under test: fail loudly.
process.on('unhandledRejection', (reason) => {
  throw reason;
});
