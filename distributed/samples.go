package distributed

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/loadlens/loadlens/metrics"
)

// A runner forwards its samples, when the coordinator writes NDJSON or
// CSV outputs, in batches of this binary form (zstd-compressed on the
// wire): the batch's metrics and tag sets once each, then every sample as
// indexes into them, its time as a delta from the previous one, its value
// and its metadata. Every sample is there: outputs write each one.
const samplesWireVersion = 1

// maxWireString bounds a decoded string: the batch comes from another
// process.
const maxWireString = 1 << 16

// sampleEncoder builds one batch; reset starts the next.
type sampleEncoder struct {
	buf      []byte // the samples
	n        int
	lastTime int64
	metrics  map[*metrics.Metric]uint64
	metricOf []*metrics.Metric
	tags     map[uint64][]tagsIndex // by Tags.Hash
	tagSets  []metrics.Tags
}

type tagsIndex struct {
	tags  metrics.Tags
	index uint64
}

func newSampleEncoder() *sampleEncoder {
	e := &sampleEncoder{}
	e.reset()
	return e
}

func (e *sampleEncoder) reset() {
	e.buf, e.n, e.lastTime = e.buf[:0], 0, 0
	e.metrics, e.metricOf = map[*metrics.Metric]uint64{}, e.metricOf[:0]
	e.tags, e.tagSets = map[uint64][]tagsIndex{}, e.tagSets[:0]
}

// size is roughly how many bytes the batch holds.
func (e *sampleEncoder) size() int { return len(e.buf) }

func (e *sampleEncoder) add(s *metrics.Sample) {
	mi, ok := e.metrics[s.Metric]
	if !ok {
		mi = uint64(len(e.metricOf))
		e.metrics[s.Metric] = mi
		e.metricOf = append(e.metricOf, s.Metric)
	}
	ti, found := uint64(0), false
	h := s.Tags.Hash()
	for _, c := range e.tags[h] {
		if c.tags.Equal(s.Tags) {
			ti, found = c.index, true
			break
		}
	}
	if !found {
		ti = uint64(len(e.tagSets))
		e.tags[h] = append(e.tags[h], tagsIndex{s.Tags, ti})
		e.tagSets = append(e.tagSets, s.Tags)
	}
	t := s.Time.UnixNano()
	e.buf = binary.AppendUvarint(e.buf, mi)
	e.buf = binary.AppendUvarint(e.buf, ti)
	e.buf = binary.AppendVarint(e.buf, t-e.lastTime)
	e.buf = binary.LittleEndian.AppendUint64(e.buf, math.Float64bits(s.Value))
	e.buf = binary.AppendUvarint(e.buf, uint64(len(s.Metadata)))
	for k, v := range s.Metadata {
		e.buf = appendString(appendString(e.buf, k), v)
	}
	e.lastTime = t
	e.n++
}

// encode returns the batch: header, metrics, tag sets, samples.
func (e *sampleEncoder) encode() []byte {
	out := make([]byte, 0, len(e.buf)+64*len(e.metricOf)+64*len(e.tagSets)+16)
	out = append(out, samplesWireVersion)
	out = binary.AppendUvarint(out, uint64(len(e.metricOf)))
	for _, m := range e.metricOf {
		out = appendString(out, m.Name)
		out = append(out, byte(m.Type), byte(m.Contains))
	}
	out = binary.AppendUvarint(out, uint64(len(e.tagSets)))
	for _, t := range e.tagSets {
		out = binary.AppendUvarint(out, uint64(t.Len()))
		for k, v := range t.All() {
			out = appendString(appendString(out, k), v)
		}
	}
	out = binary.AppendUvarint(out, uint64(e.n))
	return append(out, e.buf...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errShortBatch = errors.New("samples: truncated batch")

// wireReader reads a batch, remembering the first error.
type wireReader struct {
	b   []byte
	err error
}

func (r *wireReader) uvarint(limit uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShortBatch
		return 0
	}
	r.b = r.b[n:]
	if v > limit {
		r.err = fmt.Errorf("samples: %d is over the limit of %d", v, limit)
		return 0
	}
	return v
}

// count reads how many elements follow, each at least minBytes long: a
// hostile count cannot allocate more than the batch's size.
func (r *wireReader) count(minBytes int) int {
	return int(r.uvarint(uint64(len(r.b) / minBytes)))
}

func (r *wireReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShortBatch
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *wireReader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.err = errShortBatch
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *wireReader) string() string { return string(r.bytes(int(r.uvarint(maxWireString)))) }

// decodeSamples reads a batch, resolving its metrics with metric (the
// coordinator's registry). A malformed batch is an error, never a panic.
func decodeSamples(data []byte, metric func(string, metrics.MetricType, metrics.ValueType) (*metrics.Metric, error)) ([]metrics.Sample, error) {
	r := &wireReader{b: data}
	if v := r.bytes(1); r.err == nil && v[0] != samplesWireVersion {
		return nil, fmt.Errorf("samples: version %d, want %d", v[0], samplesWireVersion)
	}
	ms := make([]*metrics.Metric, r.count(3))
	for i := range ms {
		name := r.string()
		types := r.bytes(2)
		if r.err != nil {
			return nil, r.err
		}
		m, err := metric(name, metrics.MetricType(types[0]), metrics.ValueType(types[1]))
		if err != nil {
			return nil, fmt.Errorf("samples: %w", err)
		}
		ms[i] = m
	}
	tagSets := make([]metrics.Tags, r.count(1))
	for i := range tagSets {
		kv := make([]string, 2*r.count(2))
		for j := range kv {
			kv[j] = r.string()
		}
		tagSets[i] = metrics.NewTags(kv...)
	}
	out := make([]metrics.Sample, r.count(12))
	if r.err != nil {
		return nil, r.err
	}
	var t int64
	for i := range out {
		mi, ti := r.uvarint(uint64(len(ms))), r.uvarint(uint64(len(tagSets)))
		t += r.varint()
		value := r.bytes(8)
		var meta map[string]string
		if k := r.count(2); k > 0 {
			meta = make(map[string]string, min(k, 16))
			for range k {
				key := r.string()
				meta[key] = r.string()
				if r.err != nil {
					break
				}
			}
		}
		if r.err != nil {
			return nil, r.err
		}
		if mi >= uint64(len(ms)) || ti >= uint64(len(tagSets)) {
			return nil, fmt.Errorf("samples: sample %d refers to a metric or tag set the batch lacks", i)
		}
		out[i] = metrics.Sample{Metric: ms[mi], Tags: tagSets[ti], Time: time.Unix(0, t),
			Value: math.Float64frombits(binary.LittleEndian.Uint64(value)), Metadata: meta}
	}
	if len(r.b) > 0 {
		return nil, fmt.Errorf("samples: %d bytes after the last sample", len(r.b))
	}
	return out, nil
}
