/**
 * A column of numbers for struct-of-arrays state (one entry per node or per directed link),
 * held in typed-array pages that are allocated as the column grows and never moved or freed.
 *
 * Why pages and not one typed array doubled on growth: a doubled array leaves the old one
 * behind as a hole in the C heap and half of the new one unused, ~40 % more resident memory
 * at 80 000 links than the entries need; a page wastes at most its own unused tail.
 *
 * `width` entries per index (a heartbeat window of 100 intervals, a baseline of 6 numbers):
 * an index's entries never straddle two pages, so `page(i)` and `offset(i)` give them as one
 * contiguous run.
 */

export type TypedArray = Uint8Array | Int32Array | Uint32Array | Float32Array | Float64Array;

export class PagedColumn<T extends TypedArray> {
  private readonly pages: T[] = [];
  private readonly pageBits: number;
  private readonly mask: number;

  /**
   * @param allocate a zero-filled typed array of the given length (e.g. `(n) => new Float64Array(n)`)
   * @param pageBits indexes per page: 2^pageBits
   * @param width entries per index
   */
  constructor(
    private readonly allocate: (length: number) => T,
    pageBits = 12,
    readonly width = 1,
  ) {
    this.pageBits = pageBits;
    this.mask = (1 << pageBits) - 1;
  }

  /** Indexes the column has room for. */
  get capacity(): number {
    return this.pages.length << this.pageBits;
  }

  /** Makes room for indexes below `length`; new entries are 0. */
  reserve(length: number): void {
    while (this.capacity < length) this.pages.push(this.allocate((1 << this.pageBits) * this.width));
  }

  get(i: number): number {
    return this.pages[i >>> this.pageBits]![i & this.mask]!;
  }

  set(i: number, value: number): void {
    this.pages[i >>> this.pageBits]![i & this.mask] = value;
  }

  /** The page holding index `i`'s `width` entries, from `offset(i)` on. */
  page(i: number): T {
    return this.pages[i >>> this.pageBits]!;
  }

  offset(i: number): number {
    return (i & this.mask) * this.width;
  }

  /** Every page rewritten by `convert` (e.g. to a wider type), entries kept. */
  convert<U extends TypedArray>(convert: (page: T) => U, allocate: (length: number) => U): PagedColumn<U> {
    const next = new PagedColumn(allocate, this.pageBits, this.width);
    for (const page of this.pages) next.pages.push(convert(page));
    return next;
  }
}
