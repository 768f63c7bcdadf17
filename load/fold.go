package load

// The fold of a key's versions staged in one checkpoint: which version
// the row's bookkeeping (extracted_at, run_id) comes from.

import (
	"fmt"
	"strings"

	"github.com/repairshop/export/schema"
)

// lastChangeSQL selects, for each key staged more than once (the
// versions CTE: its staged rows in order _r, numbered into segments _seg
// that each start at a whole version), the extracted_at and run_id of
// the last version that changed the row's content. Checkpoint by
// checkpoint, a version that changes nothing is "same" and leaves the
// stored row's bookkeeping as it was (a detail that repeats the list page
// before it keeps the list's fetch time); the fold must give the same
// whatever the checkpoints' boundaries, so that a rebuild that folds a
// whole archived run at once gives what the run's checkpoints gave. Keys
// none of whose versions changed anything are absent: their fold equals
// the stored row and is "same".
func lastChangeSQL(t *schema.Table) string {
	key := quoteList(t.Key)
	var cum, stored, prev, same []string
	i := 0
	for _, c := range t.Columns {
		if t.IsKey(c.Name) || c.Name == schema.ColExtractedAt || c.Name == schema.ColRunID {
			continue
		}
		q := Quote(c.Name)
		var expr string
		switch {
		case c.Name == schema.ColExtra:
			// The segment's objects merged in order; before any whole
			// version, merged into the stored one.
			merged := fmt.Sprintf(`CASE WHEN len(list_filter(list(v.%s) OVER ws, lambda e: e IS NOT NULL)) = 0 THEN NULL
				ELSE CAST(list_reduce(list_filter(list(v.%s) OVER ws, lambda e: e IS NOT NULL), lambda a, b: json_merge_patch(a, b)) AS JSON) END`, q, q)
			expr = fmt.Sprintf(`CASE WHEN v._seg = 0 AND o.%s IS NOT NULL THEN CAST(json_merge_patch(o.%s, coalesce(%s, '{}')) AS JSON) ELSE %s END`, q, q, merged, merged)
		case c.System:
			expr = "v." + q // a version's own, as the fold takes the last
		default:
			// The last value the segment carried; before any whole
			// version, the stored value where none did.
			expr = fmt.Sprintf(`CASE WHEN v._seg = 0 THEN coalesce(last_value(v.%s IGNORE NULLS) OVER ws, o.%s) ELSE last_value(v.%s IGNORE NULLS) OVER ws END`, q, q, q)
		}
		cum = append(cum, fmt.Sprintf("%s AS _c%d", expr, i))
		stored = append(stored, fmt.Sprintf("o.%s AS _o%d", q, i))
		prev = append(prev, fmt.Sprintf("CASE WHEN _first THEN _o%d ELSE lag(_c%d) OVER (PARTITION BY %s ORDER BY _r) END AS _p%d", i, i, key, i))
		cur, before := fmt.Sprintf("_c%d", i), fmt.Sprintf("_p%d", i)
		if c.Name == schema.ColExtra {
			cur, before = extraPairs(cur), extraPairs(before)
		}
		same = append(same, fmt.Sprintf("%s IS NOT DISTINCT FROM %s", cur, before))
		i++
	}
	ex, rid := Quote(schema.ColExtractedAt), Quote(schema.ColRunID)
	keys := make([]string, len(t.Key))
	for j, k := range t.Key {
		keys[j] = "v." + Quote(k)
	}
	keyCols := strings.Join(keys, ", ")
	if len(same) == 0 { // nothing but the key and the bookkeeping
		same = []string{"true"}
	}
	return fmt.Sprintf(`SELECT %s, arg_max(%s, _r) AS %s, arg_max(%s, _r) AS %s FROM (
			SELECT *, %s FROM (
				SELECT %s, v._r, v.%s, v.%s, v._r = min(v._r) OVER (PARTITION BY %s) AS _first, o.%s IS NOT NULL AS _had, %s, %s
				FROM versions v LEFT JOIN stored o ON %s
				WINDOW ws AS (PARTITION BY %s, v._seg ORDER BY v._r ROWS UNBOUNDED PRECEDING)))
		WHERE (_first AND NOT _had) OR NOT (%s)
		GROUP BY %s`,
		key, ex, ex, rid, rid,
		strings.Join(prev, ", "),
		keyCols, ex, rid, keyCols, Quote(t.Key[0]), strings.Join(cum, ", "), strings.Join(stored, ", "),
		keyJoin(t, "v", "o"),
		keyCols,
		strings.Join(same, " AND "),
		key)
}
