package lake

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	icebergio "github.com/apache/iceberg-go/io"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/pipeline"
)

// probe writes and removes a small object at the warehouse's root before
// a publish, so that storage that will not take the files fails at once,
// with a line that names it, before any table is created or written.
func (l *Lake) probe(ctx context.Context) error {
	fsys, err := icebergio.LoadFS(ctx, l.props, l.warehouse)
	if err != nil {
		return l.storageError(err)
	}
	wfs, ok := fsys.(icebergio.WriteFileIO)
	if !ok {
		return fmt.Errorf("lake storage %s cannot be written", l.warehouse)
	}
	p := strings.TrimSuffix(l.warehouse, "/") + "/.repairshop-export-probe-" + newPublishID()
	if err := wfs.WriteFile(p, []byte("probe\n")); err != nil {
		return l.storageError(err)
	}
	if err := fsys.Remove(p); err != nil {
		return l.storageError(err)
	}
	return nil
}

// storageError says in a line which part of the lake's storage failed
// and what to check, from an object store's error (which quotes keys,
// requests and ids at length).
func (l *Lake) storageError(err error) error {
	msg := err.Error()
	where := l.warehouse
	bucket := ""
	if u, perr := url.Parse(l.warehouse); perr == nil && u.Scheme == "s3" {
		bucket = u.Host
		if e := l.props[icebergio.S3EndpointURL]; e != "" {
			where = fmt.Sprintf("%s at %s", l.warehouse, e)
		}
	}
	var why string
	switch {
	case strings.Contains(msg, "SignatureDoesNotMatch"):
		why = "S3 refused the request's signature (SignatureDoesNotMatch): AWS_SECRET_ACCESS_KEY (or the AWS shared config) does not hold this access key's secret"
	case strings.Contains(msg, "InvalidAccessKeyId"):
		why = "S3 does not know the access key (InvalidAccessKeyId): check AWS_ACCESS_KEY_ID (or the AWS shared config)"
	case strings.Contains(msg, "NoSuchBucket") || (bucket != "" && strings.Contains(msg, "code=NotFound")):
		why = fmt.Sprintf("bucket %s does not exist: create it, or name another in lake: warehouse", bucket)
	case strings.Contains(msg, "AccessDenied"):
		why = fmt.Sprintf("S3 denied access (AccessDenied): the key needs to read, write, list and delete objects in bucket %s", bucket)
	case strings.Contains(msg, "failed to retrieve credentials") || strings.Contains(msg, "no EC2 IMDS role found"):
		why = "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the AWS shared config"
	case strings.Contains(msg, "connection refused"):
		why = "connection refused: nothing listens at s3_endpoint, or the store is down"
	case strings.Contains(msg, "no such host"):
		why = "the store's host name does not resolve: check s3_endpoint"
	case strings.Contains(msg, "permission denied"):
		why = "permission denied: this user cannot write the warehouse folder"
	default:
		why, _, _ = strings.Cut(msg, "\n")
	}
	return fmt.Errorf("lake storage %s: %s", where, why)
}

// catalogError keeps a driver's error to its first line, without the URI
// it may quote.
func catalogError(err error) error {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return errors.New(msg)
}

// Check is `check`'s view of the lake: can its catalog be opened, and
// can its storage be written (a probe object, written and removed).
func Check(ctx context.Context, cfg *config.Config) []pipeline.Finding {
	l, err := Open(ctx, cfg, nil)
	if err != nil {
		return []pipeline.Finding{{What: "lake catalog", Detail: err.Error()}}
	}
	defer l.Close()
	out := []pipeline.Finding{{OK: true, What: "lake catalog", Detail: fmt.Sprintf("%s (catalog %q)", l.where, CatalogName)}}
	if err := l.probe(ctx); err != nil {
		return append(out, pipeline.Finding{What: "lake storage", Detail: err.Error()})
	}
	return append(out, pipeline.Finding{OK: true, What: "lake storage", Detail: l.warehouse + ": writable"})
}
