import { addEventHandler } from 'jest-circus';

// A promise rejected with nobody listening is a bug in the code under test: it fails the run.
//
// Not with `process.on('unhandledRejection')` here: this file runs in the test file's sandbox,
// whose `process` is a copy that the real process never emits on, so such a listener never
// fires. jest-circus listens on the real process from the start of a test file to its teardown
// and fails the test or hook that is running when a rejection surfaces. Node reports a rejection
// only once the microtask queue has drained, though, and circus builds the file's result after
// 'run_finish' and removes its listener at teardown without giving the event loop a turn: a
// rejection that surfaces after the last test or hook returned (an afterAll that forgot an await,
// a promise a test left behind) reaches a process with no listener and kills the worker, which
// Jest retries three times before reporting "child process exceptions" (run in band, the whole run
// dies without a summary). So at 'run_finish' this waits one turn of the event loop, listening on
// the real process itself (circus would file the rejection under a test or hook whose result is
// already made), and makes every rejection still unhandled then an error of the file, with its
// stack. Checked with a throwaway test whose afterAll leaves a rejected promise: its file fails
// with that rejection, the other files run on.

type CircusHandler = Parameters<typeof addEventHandler>[0];

/** Captured now: a test that installs fake timers must not stop this wait. */
const nextTurn = setImmediate;

const failOnLateRejections: CircusHandler = async (event, state) => {
  if (event.name !== 'run_finish' || !state.parentProcess) return;
  const parent = state.parentProcess;
  const unhandled = new Map<Promise<unknown>, unknown>();
  const onRejection = (reason: unknown, promise: Promise<unknown>) =>
    unhandled.set(promise, reason);
  const onHandled = (promise: Promise<unknown>) => unhandled.delete(promise);
  parent.on('unhandledRejection', onRejection);
  parent.on('rejectionHandled', onHandled);
  try {
    // Pending 'unhandledRejection' and 'rejectionHandled' events are emitted before it begins.
    await new Promise<void>((resolve) => nextTurn(resolve));
  } finally {
    parent.off('unhandledRejection', onRejection);
    parent.off('rejectionHandled', onHandled);
  }
  for (const reason of unhandled.values()) {
    state.unhandledErrors.push(
      reason instanceof Error ? reason : new Error(`unhandled rejection: ${String(reason)}`),
    );
  }
};

addEventHandler(failOnLateRejections);
