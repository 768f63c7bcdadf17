package pipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/archive"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/schema"
	"github.com/repairshop/export/transform"
)

// prepared is a response transformed for its table, ready to stage: the
// CPU-bound half of the one path from a fetched page to the warehouse,
// done where the response is read (an account's goroutine, the rebuild's
// reader) while the loader stages the previous pages.
type prepared struct {
	d extract.Decoded
	b *transform.Batch // nil: the response loads no table
}

// decode reads an archived response as its source does; a KindGone page
// (a detail's 404) names its resource's table and the record.
func decode(src *extract.Source, e archive.Entry) (extract.Decoded, error) {
	if e.Kind == archive.KindGone {
		r, _ := src.Lookup(e.Resource)
		return extract.Decoded{Table: r.Table, Fixed: r.Fixed}, nil
	}
	return src.Decode(e)
}

// prepare transforms one archived response as its source decoded it. The
// entry's account, run and fetch time are the rows' own.
func prepare(e archive.Entry, d extract.Decoded) (*prepared, error) {
	p := &prepared{d: d}
	if d.Table == nil || e.Kind == archive.KindGone {
		return p, nil
	}
	var err error
	p.b, err = transform.Page(d.Table, d.Records, transform.Meta{Account: e.Account, RunID: e.RunID, ExtractedAt: e.FetchedAt, Fixed: d.Fixed}, nil)
	if err != nil {
		where := e.Resource + " page"
		if e.Seq > 0 {
			where = fmt.Sprintf("%s page %d", e.Resource, e.Seq)
		}
		return p, fmt.Errorf("%s: %w", where, err)
	}
	return p, nil
}

// release frees the transformed rows (after staging, or when they are
// never staged); once.
func (p *prepared) release() {
	if p != nil && p.b != nil {
		p.b.Release()
		p.b = nil
	}
}

// stage stages a prepared response with its detail-queue notes: the one
// path from a fetched page to the warehouse, shared by `repairshop-export run` and
// `repairshop-export rebuild` so that a rebuild is the run replayed. A partial
// response (a list page beside its detail) must not erase the columns it
// lacks; a list page of a resource with a detail is noted as listed; a
// detail as fetched for the fingerprint it was fetched for.
func (p *prepared) stage(ctx context.Context, w *load.Warehouse, e archive.Entry) error {
	defer p.release()
	if p == nil || p.d.Table == nil {
		return nil
	}
	if e.Kind == archive.KindGone {
		// The record's detail answered 404: it leaves the detail queue
		// and its row is deleted.
		id := e.GoneID()
		w.NoteFetched(e.Account, e.Resource, id, e.Fingerprint, load.DetailNotFound, e.FetchedAt)
		w.MarkGone(e.Account, p.d.Table, id, e.RunID, e.FetchedAt)
		return nil
	}
	if p.b == nil {
		return nil
	}
	var err error
	if p.d.Partial {
		err = w.StagePartial(ctx, e.Account, p.b)
	} else {
		err = w.Stage(ctx, e.Account, p.b)
	}
	if p.d.Listed != nil {
		w.NoteListed(e.Account, e.Resource, toLoad(p.d.Listed))
	}
	if p.d.Fetched != "" {
		w.NoteFetched(e.Account, e.Resource, p.d.Fetched, e.Fingerprint, load.DetailOK, e.FetchedAt)
	}
	if err == nil && e.Complete {
		w.MarkComplete(e.Account, p.d.Table, p.d.Fixed, e.RunID, e.FetchedAt)
	}
	return err
}

// stored is what the warehouse holds for one account, as its session reads
// it: the cursors as committed when the run began, and column values.
type stored struct {
	w       *load.Warehouse
	account string
	cursors map[string]string
}

func newStored(ctx context.Context, w *load.Warehouse, account string) (*stored, error) {
	s := &stored{w: w, account: account, cursors: map[string]string{}}
	if w == nil {
		return s, nil
	}
	var err error
	s.cursors, err = w.Cursors(ctx, account, "")
	return s, err
}

func (s *stored) Cursor(name string) string { return s.cursors[name] }

func (s *stored) Cursors(prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range s.cursors {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

func (s *stored) Values(ctx context.Context, t *schema.Table, column string) ([]string, error) {
	if s.w == nil {
		return nil, nil
	}
	res, err := s.w.Query(ctx, fmt.Sprintf(`SELECT DISTINCT CAST(%s AS VARCHAR) FROM %s.%s WHERE account = ? AND %s IS NOT NULL ORDER BY 1`,
		load.Quote(column), load.Quote(t.Source), load.Quote(t.Name), load.Quote(column)), s.account)
	if err != nil {
		return nil, fmt.Errorf("read %s of %s: %w", column, t.FullName(), err)
	}
	out := make([]string, len(res.Rows))
	for i, r := range res.Rows {
		out[i] = r[0]
	}
	return out, nil
}

// rows counts an account's rows of a resource's table.
func (s *stored) rows(ctx context.Context, r extract.Resource) (int64, error) {
	if s.w == nil {
		return 0, nil
	}
	t := r.Table
	q := fmt.Sprintf("SELECT count(*) FROM %s.%s WHERE account = ?", load.Quote(t.Source), load.Quote(t.Name))
	args := []any{s.account}
	for col, v := range r.Fixed {
		q += fmt.Sprintf(" AND %s = ?", load.Quote(col))
		args = append(args, v)
	}
	res, err := s.w.Query(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", t.FullName(), err)
	}
	var n int64
	fmt.Sscan(res.Rows[0][0], &n)
	return n, nil
}
