package load

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLockIsExclusiveAndSaysWhoHoldsIt(t *testing.T) {
	wh := filepath.Join(t.TempDir(), "w.duckdb")
	since := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	l, err := AcquireLock(wh, "repairshop-export run", since)
	if err != nil {
		t.Fatal(err)
	}
	if !Held(wh) {
		t.Fatal("Held = false while locked")
	}
	_, err = AcquireLock(wh, "repairshop-export rebuild", since.Add(time.Minute))
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second lock: %v, want a LockedError", err)
	}
	if le.Holder.PID != os.Getpid() || le.Holder.Command != "repairshop-export run" || !le.Holder.Since.Equal(since) {
		t.Fatalf("holder = %+v", le.Holder)
	}
	if msg := err.Error(); !strings.Contains(msg, "repairshop-export run") || !strings.Contains(msg, "in use") {
		t.Fatalf("message = %q", msg)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if Held(wh) {
		t.Fatal("Held = true after release")
	}
	l2, err := AcquireLock(wh, "repairshop-export rebuild", since)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.Release()
}
