package otlpwire

import (
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protowire"
)

// Signal is the kind of telemetry an OTLP export request carries.
type Signal int

const (
	Logs    Signal = iota // ExportLogsServiceRequest
	Traces                // ExportTraceServiceRequest
	Metrics               // ExportMetricsServiceRequest
)

// String returns "logs", "traces" or "metrics".
func (s Signal) String() string {
	switch s {
	case Logs:
		return "logs"
	case Traces:
		return "traces"
	case Metrics:
		return "metrics"
	}
	return fmt.Sprintf("Signal(%d)", int(s))
}

// request returns the message type of s's export request.
func (s Signal) request() (msgID, bool) {
	switch s {
	case Logs:
		return mLogsRequest, true
	case Traces:
		return mTraceRequest, true
	case Metrics:
		return mMetricsRequest, true
	}
	return 0, false
}

// MaxDepth is how deep Check lets messages nest: the request is at depth 1, a LogRecord at 4, its
// body at 5, and each level of an AnyValue array or map adds 2 or 3. pdata has no limit; this one
// keeps malicious input from taking the stack (a level costs at least 2 bytes of input).
const MaxDepth = 128

// Check validates req, a protobuf-encoded Export<s>ServiceRequest, walking every message of the
// OTLP schema it contains, and returns the number of its items: log records, spans or metric
// data points, the numbers plog.Logs.LogRecordCount, ptrace.Traces.SpanCount and
// pmetric.Metrics.DataPointCount give once pdata has decoded req.
//
// Check rejects every request pdata's UnmarshalProto (v1.68.0) rejects and accepts the others,
// but for the few documented in the package comment. It does not allocate unless it returns an
// error, which names the message at fault, the byte offset in req of its field and what is
// wrong. It is safe for concurrent use; req is only read.
func Check(s Signal, req []byte) (items int, err error) {
	root, ok := s.request()
	if !ok {
		return 0, fmt.Errorf("cannot check otlp request: unknown signal %d", int(s))
	}
	n, werr := walk(root, req, 0, 1)
	if werr != nil {
		werr.signal = s
		return 0, werr
	}
	return n, nil
}

// wireError is an error of Check or SetResourceAttributes.
type wireError struct {
	signal  Signal
	message string // the message type at fault
	offset  int    // in the request
	reason  string
}

func (e *wireError) Error() string {
	return fmt.Sprintf("otlp %s request: %s at offset %d: %s", e.signal, e.message, e.offset, e.reason)
}

func fail(m *message, offset int, format string, args ...any) *wireError {
	return &wireError{message: m.name, offset: offset, reason: fmt.Sprintf(format, args...)}
}

func failField(m *message, offset int, f *field, format string, args ...any) *wireError {
	return fail(m, offset, "field %d (%s): %s", f.num, f.name, fmt.Sprintf(format, args...))
}

// walk validates b, a message of type id at offset base of the request and at nesting depth
// depth, and returns its item count.
func walk(id msgID, b []byte, base, depth int) (int, *wireError) {
	m := &schema[id]
	count, fallback, primary := 0, 0, false
	for pos := 0; pos < len(b); {
		at := pos
		var num protowire.Number
		var wt protowire.Type
		if c := b[pos]; c < 0x80 && c >= 8 { // a one-byte tag, field number > 0
			num, wt = protowire.Number(c>>3), protowire.Type(c&7)
			pos++
		} else {
			var n int
			num, wt, n = protowire.ConsumeTag(b[pos:])
			if n < 0 {
				return 0, fail(m, base+at, "bad tag: %v", tagError(b[pos:]))
			}
			pos += n
		}
		f := m.lookup(int32(num))
		if f == nil {
			end, err := skipUnknown(b, pos, wt)
			if err != nil {
				return 0, fail(m, base+at, "field %d (unknown, wire type %d): %v", num, wt, err)
			}
			pos = end
			continue
		}
		switch f.kind {
		case kVarint:
			if wt != protowire.VarintType {
				return 0, failField(m, base+at, f, "wire type %d, want %d", wt, protowire.VarintType)
			}
			if pos < len(b) && b[pos] < 0x80 {
				pos++
				break
			}
			_, n := protowire.ConsumeVarint(b[pos:])
			if n < 0 {
				return 0, failField(m, base+at, f, "%v", varintError(n))
			}
			pos += n
		case kFixed64, kFixed32:
			want, size := protowire.Fixed64Type, 8
			if f.kind == kFixed32 {
				want, size = protowire.Fixed32Type, 4
			}
			if wt != want {
				return 0, failField(m, base+at, f, "wire type %d, want %d", wt, want)
			}
			if len(b)-pos < size {
				return 0, failField(m, base+at, f, "%v", io.ErrUnexpectedEOF)
			}
			pos += size
		case kBytes, kID, kMessage:
			if wt != protowire.BytesType {
				return 0, failField(m, base+at, f, "wire type %d, want %d", wt, protowire.BytesType)
			}
			var l uint64
			if pos < len(b) && b[pos] < 0x80 {
				l = uint64(b[pos])
				pos++
			} else {
				var n int
				l, n = protowire.ConsumeVarint(b[pos:])
				if n < 0 {
					return 0, failField(m, base+at, f, "%v", varintError(n))
				}
				pos += n
			}
			if l > uint64(len(b)-pos) {
				return 0, failField(m, base+at, f, "%v", io.ErrUnexpectedEOF)
			}
			start := pos
			pos += int(l)
			v := b[start:pos]
			switch f.kind {
			case kID:
				if len(v) != 0 && len(v) != f.size {
					return 0, failField(m, base+at, f, "length %d, want %d", len(v), f.size)
				}
			case kMessage:
				if depth >= MaxDepth {
					return 0, failField(m, base+at, f, "messages nested more than %d deep", MaxDepth)
				}
				c, err := walk(f.child, v, base+start, depth+1)
				if err != nil {
					return 0, err
				}
				switch f.role {
				case roleSum:
					count += c
					primary = true
				case roleLast:
					count = c
				case roleFallback:
					fallback += c
				}
			}
		case kPackedFixed64:
			switch wt {
			case protowire.Fixed64Type:
				if len(b)-pos < 8 {
					return 0, failField(m, base+at, f, "%v", io.ErrUnexpectedEOF)
				}
				pos += 8
			case protowire.BytesType:
				v, n := protowire.ConsumeBytes(b[pos:])
				if n < 0 {
					return 0, failField(m, base+at, f, "%v", varintError(n))
				}
				if len(v)%8 != 0 {
					return 0, failField(m, base+at, f, "packed length %d, not a multiple of 8", len(v))
				}
				pos += n
			default:
				return 0, failField(m, base+at, f, "wire type %d, want %d or %d", wt, protowire.Fixed64Type, protowire.BytesType)
			}
		case kPackedVarint:
			switch wt {
			case protowire.VarintType:
				_, n := protowire.ConsumeVarint(b[pos:])
				if n < 0 {
					return 0, failField(m, base+at, f, "%v", varintError(n))
				}
				pos += n
			case protowire.BytesType:
				v, n := protowire.ConsumeBytes(b[pos:])
				if n < 0 {
					return 0, failField(m, base+at, f, "%v", varintError(n))
				}
				for len(v) > 0 {
					_, k := protowire.ConsumeVarint(v)
					if k < 0 {
						return 0, failField(m, base+at, f, "packed: %v", varintError(k))
					}
					v = v[k:]
				}
				pos += n
			default:
				return 0, failField(m, base+at, f, "wire type %d, want %d or %d", wt, protowire.VarintType, protowire.BytesType)
			}
		}
	}
	if m.item {
		return 1, nil
	}
	if !primary {
		count += fallback
	}
	return count, nil
}

var (
	errOverflow    = errors.New("varint overflows 64 bits")
	errFieldNumber = errors.New("invalid field number")
	errEndGroup    = errors.New("end of group without its start")
	errBadWireType = errors.New("invalid wire type")
	errGroupAtEnd  = errors.New("group ends at the end of its message") // pdata's ConsumeUnknown refuses it
)

// varintError is the error of protowire's Consume* functions when they return n < 0 but for
// ConsumeTag: the value (or its length) is cut short or its varint overflows.
func varintError(n int) error {
	if errors.Is(protowire.ParseError(n), io.ErrUnexpectedEOF) {
		return io.ErrUnexpectedEOF
	}
	return errOverflow
}

// tagError is the error of protowire.ConsumeTag(b).
func tagError(b []byte) error {
	if _, n := protowire.ConsumeVarint(b); n < 0 {
		return varintError(n)
	}
	return errFieldNumber
}

// skipUnknown returns the end of the value of an unknown field of wire type wt starting at
// b[pos:]. It mirrors pdata's proto.ConsumeUnknown (v1.68.0) to the letter, groups included: a
// group ends at its end-group tag (whatever its field number) or right after the first field in
// it that is not a group, and there must be bytes left after the tag read last.
func skipUnknown(b []byte, pos int, wt protowire.Type) (int, error) {
	depth := 0
	for pos < len(b) {
		switch wt {
		case protowire.VarintType, protowire.Fixed64Type, protowire.BytesType, protowire.Fixed32Type:
			n := protowire.ConsumeFieldValue(0, wt, b[pos:])
			if n < 0 {
				return 0, varintError(n)
			}
			return pos + n, nil
		case protowire.StartGroupType:
			depth++
		case protowire.EndGroupType:
			if depth == 0 {
				return 0, errEndGroup
			}
			depth--
		default:
			return 0, errBadWireType
		}
		if depth == 0 {
			return pos, nil
		}
		_, t, n := protowire.ConsumeTag(b[pos:])
		if n < 0 {
			return 0, tagError(b[pos:])
		}
		wt = t
		pos += n
	}
	if wt == protowire.EndGroupType && depth == 1 {
		return 0, errGroupAtEnd
	}
	return 0, io.ErrUnexpectedEOF
}
