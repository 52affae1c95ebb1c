// A typed event list: one bad listener cannot keep the others from hearing (mediasoup's safeEmit).
export class Listeners<Events extends { [E in keyof Events]: (...args: never[]) => void }> {
  readonly #lists = new Map<keyof Events, Set<(...args: never[]) => void>>();
  readonly #onError: (err: unknown, event: keyof Events) => void;

  constructor(onError: (err: unknown, event: keyof Events) => void) {
    this.#onError = onError;
  }

  on<E extends keyof Events>(event: E, listener: Events[E]): () => void {
    let list = this.#lists.get(event);
    if (!list) this.#lists.set(event, (list = new Set()));
    list.add(listener);
    return () => void list.delete(listener);
  }

  emit<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): void {
    const list = this.#lists.get(event);
    if (!list) return;
    for (const listener of [...list]) {
      try {
        (listener as (...a: Parameters<Events[E]>) => void)(...args);
      } catch (err) {
        this.#onError(err, event);
      }
    }
  }

  clear(): void {
    this.#lists.clear();
  }
}
