// A receiver's backlog: first in, first out, bounded by its owner, and able to skip the items of keys that are busy
// (a room whose previous event is still being delivered), so each room's events arrive in order while other rooms'
// events go ahead. A doubly linked list: push and dropping the oldest are O(1), so enqueueing never depends on how
// far behind a receiver is.

interface Node<T> {
  item: T;
  key: string | undefined;
  prev: Node<T> | undefined;
  next: Node<T> | undefined;
}

export class KeyedQueue<T> {
  #head: Node<T> | undefined;
  #tail: Node<T> | undefined;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(item: T, key: string | undefined): void {
    const node: Node<T> = { item, key, prev: this.#tail, next: undefined };
    if (this.#tail) this.#tail.next = node;
    else this.#head = node;
    this.#tail = node;
    this.#size++;
  }

  /** Removes and returns the oldest item. */
  shift(): T | undefined {
    const node = this.#head;
    if (!node) return undefined;
    this.#unlink(node);
    return node.item;
  }

  /** Removes and returns the oldest item whose key is not busy; items without a key are never held back. */
  takeReady(busy: ReadonlySet<string>): T | undefined {
    for (let node = this.#head; node; node = node.next) {
      if (node.key === undefined || !busy.has(node.key)) {
        this.#unlink(node);
        return node.item;
      }
    }
    return undefined;
  }

  /** Empties the queue, returning what it held, oldest first. */
  clear(): T[] {
    const items: T[] = [];
    for (let node = this.#head; node; node = node.next) items.push(node.item);
    this.#head = this.#tail = undefined;
    this.#size = 0;
    return items;
  }

  #unlink(node: Node<T>): void {
    if (node.prev) node.prev.next = node.next;
    else this.#head = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.#tail = node.prev;
    node.prev = node.next = undefined;
    this.#size--;
  }
}
