// Prints one plain closing line, "N passed, N failed, N skipped", which CI reads whatever the runner.
import type { Reporter, TestModule } from "vitest/node";

export default class SummaryReporter implements Reporter {
  #line = "";

  onTestRunEnd(testModules: readonly TestModule[]): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const mod of testModules) {
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === "passed") passed++;
        else if (state === "failed") failed++;
        else skipped++;
      }
      // A file that failed to load has no tests but is still a failure.
      if (mod.state() === "failed" && [...mod.children.allTests()].length === 0) failed++;
    }
    this.#line = `${passed} passed, ${failed} failed, ${skipped} skipped`;
  }

  // The default reporter prints its summary after onTestRunEnd; this line must come last.
  onFinished(): void {
    if (this.#line) process.stdout.write(`\n${this.#line}\n`);
  }
}
