package icebergread

// A small Avro object container file reader: the format Iceberg's
// manifest lists and manifests are written in. It decodes records by the
// file's own schema into maps, which is all the walk needs.

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/klauspost/compress/zstd"
)

// readAvro decodes every record of an Avro object container file.
func readAvro(data []byte) ([]map[string]any, error) {
	if !bytes.HasPrefix(data, []byte("Obj\x01")) {
		return nil, errors.New("not an Avro object container file")
	}
	r := &decoder{buf: data[4:]}
	meta := map[string][]byte{}
	for {
		n := r.long()
		if n == 0 {
			break
		}
		if n < 0 {
			n = -n
			r.long() // the block's size in bytes
		}
		for i := int64(0); i < n; i++ {
			k := string(r.bytes())
			meta[k] = r.bytes()
		}
	}
	sync := r.take(16)
	if r.err != nil {
		return nil, fmt.Errorf("avro header: %w", r.err)
	}
	var sch any
	if err := json.Unmarshal(meta["avro.schema"], &sch); err != nil {
		return nil, fmt.Errorf("avro schema: %w", err)
	}
	named := map[string]any{}
	register(sch, named)
	var out []map[string]any
	for len(r.buf) > 0 {
		count, size := r.long(), r.long()
		block := r.take(int(size))
		if !bytes.Equal(r.take(16), sync) {
			return nil, errors.New("avro block: sync marker does not match")
		}
		if r.err != nil {
			return nil, r.err
		}
		raw, err := inflate(string(meta["avro.codec"]), block)
		if err != nil {
			return nil, err
		}
		br := &decoder{buf: raw}
		for i := int64(0); i < count; i++ {
			v := br.value(sch, named)
			if br.err != nil {
				return nil, fmt.Errorf("avro record: %w", br.err)
			}
			m, ok := v.(map[string]any)
			if !ok {
				return nil, errors.New("avro record: the file's schema is not a record")
			}
			out = append(out, m)
		}
	}
	return out, nil
}

func inflate(codec string, block []byte) ([]byte, error) {
	switch codec {
	case "", "null":
		return block, nil
	case "deflate":
		return io.ReadAll(flate.NewReader(bytes.NewReader(block)))
	case "zstandard":
		d, err := zstd.NewReader(nil)
		if err != nil {
			return nil, err
		}
		defer d.Close()
		return d.DecodeAll(block, nil)
	}
	return nil, fmt.Errorf("avro codec %q is not read here", codec)
}

// register remembers the named types a schema defines, for references.
func register(s any, named map[string]any) {
	switch t := s.(type) {
	case []any:
		for _, x := range t {
			register(x, named)
		}
	case map[string]any:
		if n, ok := t["name"].(string); ok && (t["type"] == "record" || t["type"] == "fixed" || t["type"] == "enum") {
			named[n] = t
		}
		if fs, ok := t["fields"].([]any); ok {
			for _, f := range fs {
				register(f.(map[string]any)["type"], named)
			}
		}
		if it, ok := t["items"]; ok {
			register(it, named)
		}
		if v, ok := t["values"]; ok {
			register(v, named)
		}
	}
}

type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.buf = nil
}

func (d *decoder) long() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail(errors.New("truncated number"))
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) take(n int) []byte {
	if n < 0 || n > len(d.buf) {
		d.fail(errors.New("truncated"))
		return nil
	}
	b := d.buf[:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) bytes() []byte { return d.take(int(d.long())) }

// value decodes one value of schema s.
func (d *decoder) value(s any, named map[string]any) any {
	if d.err != nil {
		return nil
	}
	switch t := s.(type) {
	case string:
		switch t {
		case "null":
			return nil
		case "boolean":
			b := d.take(1)
			return len(b) == 1 && b[0] == 1
		case "int", "long":
			return d.long()
		case "float":
			b := d.take(4)
			if b == nil {
				return nil
			}
			return float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
		case "double":
			b := d.take(8)
			if b == nil {
				return nil
			}
			return math.Float64frombits(binary.LittleEndian.Uint64(b))
		case "bytes":
			return d.bytes()
		case "string":
			return string(d.bytes())
		}
		if n, ok := named[t]; ok {
			return d.value(n, named)
		}
		d.fail(fmt.Errorf("unknown type %q", t))
	case []any: // a union: the branch's index, then its value
		i := d.long()
		if i < 0 || int(i) >= len(t) {
			d.fail(errors.New("union branch out of range"))
			return nil
		}
		return d.value(t[i], named)
	case map[string]any:
		switch t["type"] {
		case "record":
			out := map[string]any{}
			for _, f := range t["fields"].([]any) {
				fm := f.(map[string]any)
				out[fm["name"].(string)] = d.value(fm["type"], named)
			}
			return out
		case "array":
			var out []any
			for n := d.long(); n != 0 && d.err == nil; n = d.long() {
				if n < 0 {
					n = -n
					d.long()
				}
				for i := int64(0); i < n; i++ {
					out = append(out, d.value(t["items"], named))
				}
			}
			return out
		case "map":
			out := map[string]any{}
			for n := d.long(); n != 0 && d.err == nil; n = d.long() {
				if n < 0 {
					n = -n
					d.long()
				}
				for i := int64(0); i < n; i++ {
					k := string(d.bytes())
					out[k] = d.value(t["values"], named)
				}
			}
			return out
		case "fixed":
			return d.take(int(t["size"].(float64)))
		case "enum":
			return t["symbols"].([]any)[d.long()]
		default: // {"type": "long", "logicalType": …}
			return d.value(t["type"], named)
		}
	}
	d.fail(fmt.Errorf("unknown schema %v", s))
	return nil
}
