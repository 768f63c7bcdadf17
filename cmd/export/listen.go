package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/receive"
)

func listenCommand(stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "listen",
		Usage: "receive the accounts' webhooks: verify each signature, store each event durably, answer within a second",
		Description: "Serves every account's webhook path (the config's webhook: {path, secret_env, signature_header}) on one\n" +
			"address (--addr, else the config's listen:, else " + config.DefaultListen + "). Events go to an append-only\n" +
			"log under the raw archive, fsynced before the 2xx answer, in segments of --segment-mb (a run removes the\n" +
			"segments it has loaded); a bad or missing signature is answered 401 and logged. It never opens the\n" +
			"warehouse, so it runs beside cron's repairshop-export run. Put it behind a reverse proxy with TLS (docs/operations.md).\n\n" +
			"EXAMPLE:\n   repairshop-export listen -c export.yaml --addr 127.0.0.1:8787",
		Flags: []cli.Flag{
			configFlag(),
			&cli.StringFlag{Name: "addr", Usage: "host:port to listen on (default: the config's listen:, else " + config.DefaultListen + ")"},
			&cli.IntFlag{Name: "segment-mb", Value: receive.SegmentBytes >> 20, Usage: "start a new segment of an account's event log past this many MiB"},
			&cli.StringFlag{Name: "log-format", Value: "auto", Usage: "auto | text | json"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug | info | warn | error"},
		},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.Int("segment-mb") < 1 {
				return config.Usagef("listen: --segment-mb must be at least 1")
			}
			log, err := logger(c, stderr)
			if err != nil {
				return err
			}
			cfg, err := configFrom(c)
			if err != nil {
				return err
			}
			var eps []receive.Endpoint
			for _, a := range cfg.Accounts {
				if a.Webhook == nil {
					continue
				}
				secret, err := cfg.WebhookSecret(a)
				if err != nil {
					return err
				}
				src, _ := sources.Lookup(a.Source)
				header := a.Webhook.SignatureHeader
				if header == "" {
					header = src.Webhooks.SignatureHeader
				}
				eps = append(eps, receive.Endpoint{Account: a.Name, Source: a.Source, Path: a.Webhook.Path, Secret: []byte(secret), Header: header, EventID: src.Webhooks.EventID})
			}
			if len(eps) == 0 {
				return config.Usagef("listen: no account in %s has a webhook: (e.g. webhook: {path: /hooks/metro, secret_env: METRO_WEBHOOK_SECRET})", cfg.Path)
			}
			r, err := receive.New(cfg.RawDir(), eps, log)
			if err != nil {
				return err
			}
			defer r.Close()
			r.SegmentBytes = int64(c.Int("segment-mb")) << 20
			addr := c.String("addr")
			if addr == "" {
				addr = cfg.Listen
			}
			if addr == "" {
				addr = config.DefaultListen
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", addr, err)
			}
			srv := &http.Server{Handler: r, ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, MaxHeaderBytes: 64 << 10}
			for _, e := range eps {
				log.Info("receiving webhooks", "account", e.Account, "source", e.Source, "url", "http://"+ln.Addr().String()+e.Path, "signature_header", e.Header)
			}
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ln) }()
			select {
			case err := <-done:
				return err
			case <-c.Context.Done():
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				err := srv.Shutdown(ctx)
				if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
					err = errors.Join(err, serr)
				}
				log.Info("stopped receiving webhooks")
				return err
			}
		},
	}
}
