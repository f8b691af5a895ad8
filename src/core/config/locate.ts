// Where a configuration's issue stands in its text: the line of an offset, and the line of a
// field (its key, else the deepest node along its path). Pure.
import { type Document, isMap, isNode, isScalar, type LineCounter } from 'yaml'

/** The line (from 1) of an offset of `text`. */
export function lineAt (text: string, index: number): number {
  let line = 1
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) line++
  return line
}

/**
 * The line of a field path in a parsed document: the key of the field, else the deepest node
 * that exists along the path (a missing field points at its parent).
 */
export function fieldLines (doc: Document, lineCounter: LineCounter): (path: readonly string[]) => number | undefined {
  return (path) => {
    const keys = path.map((s) => /^\d+$/.test(s) ? Number(s) : s)
    for (let n = path.length; n >= 0; n--) {
      const parent: unknown = n === 0 ? undefined : doc.getIn(keys.slice(0, n - 1), true)
      const pair = isMap(parent) ? parent.items.find((p) => isScalar(p.key) && p.key.value === keys[n - 1]) : undefined
      const node = rangeStart(doc.getIn(keys.slice(0, n), true))
      const start = rangeStart(pair?.key) ?? node ?? (n === 0 ? rangeStart(doc.contents) : undefined)
      if (start !== undefined) return lineCounter.linePos(start).line
    }
    return undefined
  }
}

function rangeStart (node: unknown): number | undefined {
  return isNode(node) ? (node.range as readonly number[] | null | undefined)?.[0] : undefined
}
