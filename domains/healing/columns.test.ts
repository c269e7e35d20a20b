import { describe, expect, it } from "vitest";
import { PagedColumn } from "./columns.ts";

describe("paged column", () => {
  it("given room reserved across several pages, every index keeps its own value and fresh entries are 0", () => {
    const column = new PagedColumn((n) => new Float64Array(n), 2);
    column.reserve(10);
    expect(column.capacity).toBe(12);
    for (let i = 0; i < 10; i++) column.set(i, i + 0.5);
    column.reserve(13);
    expect(Array.from({ length: 13 }, (_, i) => column.get(i))).toEqual([0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 0, 0, 0]);
  });

  it("when it grows, earlier pages are not copied: a page handed out stays the one that holds its entries", () => {
    const column = new PagedColumn((n) => new Uint32Array(n), 1);
    column.reserve(2);
    const first = column.page(1);
    column.reserve(100);
    column.set(1, 7);
    expect(column.page(1)).toBe(first);
    expect(first[1]).toBe(7);
  });

  it("given a width, an index's entries are one contiguous run inside one page", () => {
    const column = new PagedColumn((n) => new Float32Array(n), 2, 3);
    column.reserve(9);
    for (let i = 0; i < 9; i++) {
      const page = column.page(i);
      const at = column.offset(i);
      page.set([i, i + 0.25, i + 0.5], at);
    }
    const read = (i: number) => Array.from(column.page(i).subarray(column.offset(i), column.offset(i) + 3));
    expect(read(5)).toEqual([5, 5.25, 5.5]);
    expect(read(8)).toEqual([8, 8.25, 8.5]);
    expect(column.offset(5)).toBeLessThanOrEqual(column.page(5).length - 3);
  });

  it("converted to a wider type, it keeps every entry", () => {
    const narrow = new PagedColumn((n) => new Float32Array(n), 1, 2);
    narrow.reserve(3);
    narrow.page(2).set([1.5, 2.5], narrow.offset(2));
    const wide = narrow.convert((page) => Float64Array.from(page), (n) => new Float64Array(n));
    expect(wide.capacity).toBe(narrow.capacity);
    expect(Array.from(wide.page(2).subarray(wide.offset(2), wide.offset(2) + 2))).toEqual([1.5, 2.5]);
    expect(wide.page(2)).toBeInstanceOf(Float64Array);
  });
});
