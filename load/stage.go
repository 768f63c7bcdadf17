package load

// Staging: a run's Arrow batches appended to per-table staging tables
// (through DuckDB's Arrow interface) until a checkpoint folds them in.

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/repairshop/export/transform"
)

// Stage appends a transformed batch (and its child batches) to the run's
// staging area. Nothing is visible in the warehouse tables until the next
// Checkpoint or Finish. Each staged row replaces the stored row whole.
func (w *Warehouse) Stage(ctx context.Context, account string, b *transform.Batch) error {
	return w.stage(ctx, account, b, false)
}

// StagePartial stages a list page of a table whose detail endpoint carries
// more than the list (invoices: subtotal, tax, amount paid). A column the
// page leaves NULL keeps its stored value and _extra is merged into the
// stored one, so re-listing never erases what a detail fetch loaded; the
// columns the list does carry are updated. The next detail fetch (due when
// the list fingerprint changes) replaces the row whole.
func (w *Warehouse) StagePartial(ctx context.Context, account string, b *transform.Batch) error {
	return w.stage(ctx, account, b, true)
}

func (w *Warehouse) stage(ctx context.Context, account string, b *transform.Batch, partial bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.viewSeq++
	batch := w.viewSeq
	if err := w.stageOne(ctx, account, b, batch, partial); err != nil {
		return err
	}
	for _, c := range b.Children {
		if err := w.stageOne(ctx, account, c, batch, false); err != nil {
			return err
		}
	}
	for _, r := range b.Rejects {
		if _, err := w.execSQL(ctx, `INSERT INTO stage_rejects VALUES (?, ?, ?, ?, ?)`, account, r.Table, nullable(r.Key), r.Reason, string(r.Raw)); err != nil {
			return fmt.Errorf("stage reject for %s: %w", b.Table.FullName(), err)
		}
	}
	return nil
}

// CheckpointRows is how many staged rows call for a checkpoint whatever
// the pages: a checkpoint's rows are held in memory (in Go, then in
// DuckDB's staging tables) until it commits, so this bounds the memory a
// run or rebuild of any size needs.
const CheckpointRows = 16384

// Spill moves what is staged in Go into DuckDB's staging tables, which
// spill to disk beyond the memory limit: a rebuild stages a whole
// original run this way and folds it in one checkpoint, where a live run
// commits every CheckpointRows.
func (w *Warehouse) Spill(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, name := range w.stagedNames() {
		if err := w.flush(ctx, w.staged[name]); err != nil {
			return err
		}
	}
	w.pendingRows = 0
	return nil
}

// PendingRows is the number of rows staged since the last checkpoint.
func (w *Warehouse) PendingRows() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pendingRows
}

func (w *Warehouse) stageOne(ctx context.Context, account string, b *transform.Batch, batch int, partial bool) error {
	t := b.Table
	st, ok := w.staged[t.FullName()]
	if !ok {
		st = &stagedTable{table: t, name: "stage_" + t.Source + "_" + t.Name}
		if t.IsChild() {
			st.parents = st.name + "__parents"
		}
		w.staged[t.FullName()] = st
	}
	if b.Record != nil && b.Record.NumRows() > 0 {
		st.pending = append(st.pending, withStageColumns(b.Record, st.stagedSchema(b.Record.Schema()), batch, partial))
		w.pendingRows += b.Record.NumRows()
		w.stagedRows += b.Record.NumRows()
		if err := st.compact(b.Record.NumRows()); err != nil {
			return fmt.Errorf("stage %s: %w", t.FullName(), err)
		}
	}
	for _, p := range b.Parents {
		st.pendingParents = append(st.pendingParents, account, p, batch)
	}
	for field, example := range b.Drift {
		k := driftKey{t.FullName(), field}
		if _, ok := w.drift[k]; !ok {
			w.drift[k] = example
		}
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// stagedSchema is sc with the staging columns _batch and _partial, built
// once for the table's pages (each page of a table carries the same
// schema: see transform.ArrowSchema).
func (st *stagedTable) stagedSchema(sc *arrow.Schema) *arrow.Schema {
	if st.schemaOf != sc {
		fields := append(sc.Fields(), arrow.Field{Name: "_batch", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, arrow.Field{Name: "_partial", Type: arrow.FixedWidthTypes.Boolean, Nullable: true})
		st.schemaOf, st.schema = sc, arrow.NewSchema(fields, nil)
	}
	return st.schema
}

// withStageColumns is rec with the staging columns: _batch (the stage
// call it came with) and _partial; staged is rec's schema with them (see
// stagedSchema).
func withStageColumns(rec arrow.RecordBatch, staged *arrow.Schema, batch int, partial bool) arrow.RecordBatch {
	n := int(rec.NumRows())
	bb := array.NewInt64Builder(memory.DefaultAllocator)
	pb := array.NewBooleanBuilder(memory.DefaultAllocator)
	defer bb.Release()
	defer pb.Release()
	for range n {
		bb.Append(int64(batch))
		pb.Append(partial)
	}
	bcol, pcol := bb.NewArray(), pb.NewArray()
	defer bcol.Release()
	defer pcol.Release()
	cols := append(append([]arrow.Array{}, rec.Columns()...), bcol, pcol)
	return array.NewRecordBatch(staged, cols, rec.NumRows())
}

// A small page is one of fewer rows than an Arrow builder's least
// capacity (smallPage), and compactPages of them in a row are joined into
// one record as they are staged.
const (
	smallPage    = 32
	compactPages = 64
)

// compact joins the last compactPages small pages into one record, after
// a page of rows rows was added. A transformed page's buffers have room for
// at least 32 rows, aligned to 64 bytes, in every column: a one-record
// detail page of a ticket and its child tables holds about 70 KB, so the
// thousands of detail pages a busy checkpoint stages would hold hundreds
// of MB. Joined, the same rows hold what their values need. A list page
// of 50 or more rows wastes at most half its buffers, and is left as it
// is: joining it would copy every row of a rebuild once more.
func (st *stagedTable) compact(rows int64) error {
	if rows >= smallPage {
		st.small = 0
		return nil
	}
	if st.small++; st.small < compactPages {
		return nil
	}
	tail := st.pending[len(st.pending)-st.small:]
	rec, err := concat(tail)
	if err != nil {
		return err
	}
	for _, r := range tail {
		r.Release()
	}
	st.pending = append(st.pending[:len(st.pending)-st.small], rec)
	st.small = 0
	return nil
}

// flush moves one table's pending records into its staging table: one
// Arrow view and one INSERT, whatever the pages.
func (w *Warehouse) flush(ctx context.Context, st *stagedTable) error {
	if !st.created && (len(st.pending) > 0 || len(st.pendingParents) > 0) {
		if err := w.createStaging(ctx, st); err != nil {
			return err
		}
	}
	if len(st.pending) > 0 {
		err := w.appendRecords(ctx, st)
		for _, r := range st.pending {
			r.Release()
		}
		st.pending, st.small = nil, 0
		if err != nil {
			return fmt.Errorf("stage %s: %w", st.table.FullName(), err)
		}
	}
	for len(st.pendingParents) > 0 {
		n := min(len(st.pendingParents)/3, 1000)
		vals := strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", n), ", ")
		if _, err := w.execSQL(ctx, "INSERT INTO "+Quote(st.parents)+" VALUES "+vals, st.pendingParents[:3*n]...); err != nil {
			return fmt.Errorf("stage %s parents: %w", st.table.FullName(), err)
		}
		st.pendingParents = st.pendingParents[3*n:]
	}
	return nil
}

// createStaging creates a table's staging tables, when it first has rows
// or parents to hold: the pages of most tables in an incremental run are
// empty, and their checkpoint then has nothing to classify.
func (w *Warehouse) createStaging(ctx context.Context, st *stagedTable) error {
	stmts := []string{fmt.Sprintf("CREATE OR REPLACE TEMP TABLE %s AS SELECT *, NULL::BIGINT AS _batch, NULL::BOOLEAN AS _partial FROM %s LIMIT 0", Quote(st.name), quotedName(st.table))}
	if st.parents != "" {
		stmts = append(stmts, fmt.Sprintf("CREATE OR REPLACE TEMP TABLE %s (account VARCHAR, parent_id VARCHAR, _batch BIGINT)", Quote(st.parents)))
	}
	if err := w.exec(ctx, stmts...); err != nil {
		return fmt.Errorf("stage %s: %w", st.table.FullName(), err)
	}
	st.created = true
	return nil
}

// concat joins records of one schema into one.
func concat(recs []arrow.RecordBatch) (arrow.RecordBatch, error) {
	if len(recs) == 1 {
		recs[0].Retain()
		return recs[0], nil
	}
	sc := recs[0].Schema()
	cols := make([]arrow.Array, sc.NumFields())
	var rows int64
	for _, r := range recs {
		rows += r.NumRows()
	}
	for i := range cols {
		parts := make([]arrow.Array, len(recs))
		for j, r := range recs {
			parts[j] = r.Column(i)
		}
		c, err := array.Concatenate(parts, memory.DefaultAllocator)
		if err != nil {
			for _, done := range cols[:i] {
				done.Release()
			}
			return nil, fmt.Errorf("join staged pages: %w", err)
		}
		cols[i] = c
	}
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	return array.NewRecordBatch(sc, cols, rows), nil
}

// appendRecords copies the pending records into the staging table.
func (w *Warehouse) appendRecords(ctx context.Context, st *stagedTable) error {
	var rows int64
	for _, r := range st.pending {
		rows += r.NumRows()
	}
	// One record of all the pages: DuckDB's Arrow scan keeps a buffer per
	// batch it is given, so many small pages cost far more memory (and
	// time) than one record of the same rows.
	rec, err := concat(st.pending)
	if err != nil {
		return err
	}
	defer rec.Release()
	list := columnList(st.table, "") + `, "_batch", "_partial"`
	res, err := w.execArrow(ctx, rec, func(view string) string {
		return fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s", Quote(st.name), list, list, view)
	})
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n != rows {
			err = fmt.Errorf("staged %d of %d rows", n, rows)
		}
	}
	return err
}

// execArrow runs the statement q gives for the name of a view of rec,
// registered for this statement alone (an Arrow stream can be scanned
// once only). Rows reach DuckDB this way column by column, where a VALUES
// list of parameters is planned value by value.
func (w *Warehouse) execArrow(ctx context.Context, rec arrow.RecordBatch, q func(view string) string) (sql.Result, error) {
	rdr, err := array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
	if err != nil {
		return nil, err
	}
	defer rdr.Release()
	w.viewSeq++
	view := fmt.Sprintf("arrow_in_%d", w.viewSeq)
	release, err := w.arrow.RegisterView(rdr, view)
	if err != nil {
		return nil, fmt.Errorf("register Arrow view: %w", err)
	}
	defer release()
	res, err := w.execSQL(ctx, q(Quote(view)))
	if derr := w.exec(ctx, "DROP VIEW IF EXISTS "+Quote(view)); err == nil {
		err = derr
	}
	return res, err
}

// stagedNames lists the staged tables, sorted.
func (w *Warehouse) stagedNames() []string {
	names := make([]string, 0, len(w.staged))
	for n := range w.staged {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
