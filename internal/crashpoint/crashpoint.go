// Package crashpoint is how the crash tests stop a real process exactly
// where they want: EXPORT_TEST_CRASH_AT names a point ("checkpoint:after-
// commit#2", the second time it is passed) at which the process kills
// itself with SIGKILL, and EXPORT_TEST_CHECKPOINT_PAGES makes checkpoints
// come every few pages, so that a small export has several. Both are unset
// in production, where the hook is nil.
package crashpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Env and PagesEnv are the variables the tests set.
const (
	Env      = "EXPORT_TEST_CRASH_AT"
	PagesEnv = "EXPORT_TEST_CHECKPOINT_PAGES"
)

// FromEnv returns the hook the environment asks for (nil: none) and the
// pages per checkpoint (0: the default).
func FromEnv() (hook func(point string), pages int) {
	if spec := os.Getenv(Env); spec != "" {
		hook = Hook(spec)
	}
	if n, err := strconv.Atoi(os.Getenv(PagesEnv)); err == nil && n > 0 {
		pages = n
	}
	return hook, pages
}

// Hook kills the process the nth time point is passed ("point#n", n
// defaulting to 1).
func Hook(spec string) func(string) {
	point, nth := spec, 1
	if i := strings.LastIndexByte(spec, '#'); i > 0 {
		point = spec[:i]
		fmt.Sscan(spec[i+1:], &nth)
	}
	var mu sync.Mutex
	seen := 0
	return func(p string) {
		mu.Lock()
		defer mu.Unlock()
		if p == point {
			if seen++; seen == nth {
				fmt.Fprintf(os.Stderr, "crash point %s#%d reached\n", point, nth)
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // the signal is on its way
			}
		}
	}
}
