package load

import "testing"

func TestSizeBytes(t *testing.T) {
	for in, want := range map[string]int64{"256.0 MiB": 256 << 20, "1.5 GiB": 3 << 29, "500.0 MB": 500e6, "": 0, "lots": 0} {
		if got := sizeBytes(in); got != want {
			t.Errorf("sizeBytes(%q) = %d, want %d", in, got, want)
		}
	}
}
