package load

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// duckdbMagic is what a DuckDB database file holds at byte 8 (its header
// starts with a checksum, then "DUCK").
var duckdbMagic = []byte("DUCK")

// CheckFile says whether path can be the warehouse: absent (a run creates
// it) or a DuckDB database. It reads the header only, so it vouches for
// the kind of file, not for every block in it.
func CheckFile(path string) (exists bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return true, fmt.Errorf("%s is a folder, not a DuckDB file", path)
	}
	head := make([]byte, 12)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return true, err
	}
	if n < len(head) || !bytes.Equal(head[8:12], duckdbMagic) {
		return true, fmt.Errorf("%s is not a DuckDB database (%d bytes of something else); name another file in warehouse:, or move this one away", path, fileSize(f))
	}
	return true, nil
}

func fileSize(f *os.File) int64 {
	if st, err := f.Stat(); err == nil {
		return st.Size()
	}
	return 0
}
