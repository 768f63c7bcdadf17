// Package pgtest starts a throwaway PostgreSQL cluster for a test: initdb
// and pg_ctl from Debian's postgresql package, in a temporary folder, on
// a free loopback port, stopped and removed when the test ends. A real
// server, not a mock: the lake's SQL catalog runs on it as it would in
// production.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// bin finds a PostgreSQL server program: on PATH, else in Debian's
// /usr/lib/postgresql/<version>/bin.
func bin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(found) == 0 {
		return "", fmt.Errorf("%s not found: install Debian's postgresql package (.ci/run does; see the README)", name)
	}
	return found[len(found)-1], nil
}

// Start starts a cluster and returns the URI of a fresh database on it
// (user postgres, no password: trust on loopback); the test's end stops
// and removes it.
func Start(t testing.TB) string {
	t.Helper()
	uri, stop, err := StartCluster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return uri
}

// StartCluster is Start outside a test (the benchmarks): stop stops the
// server and removes its folder.
func StartCluster() (uri string, stop func(), err error) {
	initdb, err := bin("initdb")
	if err != nil {
		return "", nil, err
	}
	pgctl, err := bin("pg_ctl")
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return "", nil, err
	}
	// initdb refuses to run as root: run the server as the package's
	// postgres user, in a folder it owns.
	var as []string
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return "", nil, fmt.Errorf("running as root, and there is no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
		as = []string{"runuser", "-u", "postgres", "--"}
	}
	run := func(args ...string) error {
		full := append(append([]string{}, as...), args...)
		if out, err := exec.Command(full[0], full[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	data := filepath.Join(dir, "data")
	stop = func() {
		run(pgctl, "-D", data, "-m", "immediate", "-w", "stop")
		os.RemoveAll(dir)
	}
	if err := run(initdb, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	if err := run(pgctl, "-D", data, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100", port, dir), "start"); err != nil {
		stop()
		return "", nil, err
	}
	admin := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	db, err := sql.Open("pgx", admin)
	if err != nil {
		stop()
		return "", nil, err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE lake"); err != nil {
		stop()
		return "", nil, fmt.Errorf("create the test database: %w", err)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/lake?sslmode=disable", port), stop, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
