// Reads one Parquet file with hyparquet and prints its schema and rows as
// JSON: decimals as exact strings at their declared scale, timestamps as
// ISO 8601 UTC. Usage: node read.mjs FILE
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'

const file = await asyncBufferFromFile(process.argv[2])
const meta = await parquetMetadataAsync(file)
const columns = {}
for (const el of meta.schema.slice(1)) {
  columns[el.name] = {
    physical: el.type,
    logical: el.logical_type?.type ?? el.converted_type ?? null,
    precision: el.precision ?? el.logical_type?.precision ?? null,
    scale: el.scale ?? el.logical_type?.scale ?? null,
    utc: el.logical_type?.isAdjustedToUTC ?? null,
    unit: el.logical_type?.unit ?? null,
  }
}
const rows = await parquetReadObjects({ file, compressors })
const out = rows.map(r => {
  const o = {}
  for (const [k, v] of Object.entries(r)) {
    const c = columns[k]
    if (v === null || v === undefined) o[k] = null
    else if (c?.logical === 'DECIMAL') o[k] = Number(v).toFixed(c.scale)
    else if (v instanceof Date) o[k] = v.toISOString()
    else if (typeof v === 'bigint') o[k] = v.toString()
    else if (typeof v === 'object') o[k] = JSON.stringify(v)
    else o[k] = v
  }
  return o
})
console.log(JSON.stringify({ rows: meta.num_rows.toString(), columns, data: out }))
