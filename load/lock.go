package load

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Lock is one process's exclusive claim on a warehouse for writing (a run
// or a rebuild). It is an OS file lock on <warehouse>.lock, so it is
// released when the process dies however it dies: a kill -9 never leaves a
// stale lock behind. The file also says who holds it, for the message a
// second process prints.
type Lock struct {
	f    *os.File
	path string
}

// Holder describes the process holding a warehouse lock.
type Holder struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
}

// LockedError is returned by AcquireLock when another process holds the lock.
type LockedError struct {
	Warehouse string
	Holder    Holder // zero if the holder could not be read
}

func (e *LockedError) Error() string {
	h := e.Holder
	if h.PID == 0 {
		return fmt.Sprintf("warehouse %s is in use by another export process", e.Warehouse)
	}
	return fmt.Sprintf("warehouse %s is in use: `%s` (pid %d on %s) has held it since %s; not starting a second one",
		e.Warehouse, h.Command, h.PID, h.Host, h.Since.Local().Format(time.RFC3339))
}

// LockPath is the lock file of a warehouse file.
func LockPath(warehouse string) string { return warehouse + ".lock" }

// AcquireLock takes the warehouse's lock without waiting. command says what
// holds it (e.g. "repairshop-export run").
func AcquireLock(warehouse, command string, now time.Time) (*Lock, error) {
	path := LockPath(warehouse)
	// A first run creates the warehouse's folder, as it does the Parquet
	// and raw folders (check says so beforehand).
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create the warehouse's folder: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock warehouse: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			h, _ := ReadHolder(warehouse)
			return nil, &LockedError{Warehouse: warehouse, Holder: h}
		}
		return nil, fmt.Errorf("lock warehouse %s: %w", path, err)
	}
	host, _ := os.Hostname()
	info, _ := json.Marshal(Holder{PID: os.Getpid(), Host: host, Command: command, Since: now.UTC()})
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt(append(info, '\n'), 0)
	}
	return &Lock{f: f, path: path}, nil
}

// ReadHolder reads who holds (or last held) a warehouse's lock, and whether
// it is held right now.
func ReadHolder(warehouse string) (Holder, error) {
	var h Holder
	b, err := os.ReadFile(LockPath(warehouse))
	if err != nil {
		return h, err
	}
	err = json.Unmarshal([]byte(strings.TrimSpace(string(b))), &h)
	return h, err
}

// Held reports whether some process holds the warehouse's lock now.
func Held(warehouse string) bool {
	f, err := os.Open(LockPath(warehouse))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return true
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// Release gives the lock up. The file stays: removing it would race with a
// process that has just opened it.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := l.f.Close() // closing drops the flock
	l.f = nil
	return err
}
