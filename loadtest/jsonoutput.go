package loadtest

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/loadlens/loadlens/metrics"
)

// JSONOutput writes samples as k6's `--out json` does: one JSON object per
// line, a "Metric" line before each metric's first "Point" line, tags sorted
// by key, HTML characters not escaped, and buffered lines flushed every
// 200 ms. Ground truth: k6-out.head.ndjson.
type JSONOutput struct {
	dst       io.Writer
	gz        *gzip.Writer
	w         *bufio.Writer
	info      RunInfo
	seen      map[*metrics.Metric]bool
	tagJSON   map[uint64][]tagJSONEntry // encoded tag sets, by hash
	line      []byte
	lastFlush time.Time
}

type tagJSONEntry struct {
	tags metrics.Tags
	json []byte
}

var _ Output = (*JSONOutput)(nil)

// jsonFlushPeriod is how often buffered lines are written, as k6.
const jsonFlushPeriod = 200 * time.Millisecond

// NewJSONOutput returns an output writing to w, gzip-compressed when
// compress is set (k6 does so for file names ending in ".gz"). The caller
// closes w after the run.
func NewJSONOutput(w io.Writer, compress bool) *JSONOutput {
	o := &JSONOutput{dst: w, seen: map[*metrics.Metric]bool{}, tagJSON: map[uint64][]tagJSONEntry{}}
	if compress {
		o.gz = gzip.NewWriter(w)
		w = o.gz
	}
	o.w = bufio.NewWriterSize(w, 64<<10)
	return o
}

// Start implements Output.
func (o *JSONOutput) Start(info RunInfo) error {
	o.info = info
	o.lastFlush = time.Now()
	return nil
}

// AddSamples implements Output.
func (o *JSONOutput) AddSamples(batch []metrics.Sample) {
	for i := range batch {
		s := &batch[i]
		if !o.seen[s.Metric] {
			o.seen[s.Metric] = true
			o.writeMetricLine(s.Metric)
		}
		o.writePoint(s)
	}
	if now := time.Now(); now.Sub(o.lastFlush) >= jsonFlushPeriod {
		o.lastFlush = now
		_ = o.w.Flush()
	}
}

// Stop implements Output: it flushes and ends the gzip stream.
func (o *JSONOutput) Stop(Result) error {
	if err := o.w.Flush(); err != nil {
		return err
	}
	if o.gz != nil {
		return o.gz.Close()
	}
	return nil
}

type jsonSubmetric struct {
	Name   string            `json:"name"`
	Suffix string            `json:"suffix"`
	Tags   map[string]string `json:"tags"`
}

func (o *JSONOutput) writeMetricLine(m *metrics.Metric) {
	ths := o.info.Thresholds[m.Name]
	if ths == nil {
		ths = []metrics.Threshold{}
	}
	var subs []jsonSubmetric
	for _, sm := range o.info.Submetrics {
		if sm.Parent == m.Name {
			subs = append(subs, jsonSubmetric{Name: sm.Name, Suffix: sm.Suffix, Tags: sm.Tags.Map()})
		}
	}
	line := struct {
		Type string `json:"type"`
		Data struct {
			Name       string              `json:"name"`
			Type       metrics.MetricType  `json:"type"`
			Contains   metrics.ValueType   `json:"contains"`
			Thresholds []metrics.Threshold `json:"thresholds"`
			Submetrics []jsonSubmetric     `json:"submetrics"`
		} `json:"data"`
		Metric string `json:"metric"`
	}{Type: "Metric", Metric: m.Name}
	line.Data.Name, line.Data.Type, line.Data.Contains = m.Name, m.Type, m.Contains
	line.Data.Thresholds, line.Data.Submetrics = ths, subs
	enc := json.NewEncoder(o.w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(line)
}

func (o *JSONOutput) writePoint(s *metrics.Sample) {
	b := o.line[:0]
	b = append(b, `{"metric":`...)
	b = appendJSONString(b, s.Metric.Name)
	b = append(b, `,"type":"Point","data":{"time":"`...)
	b = s.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","value":`...)
	b = strconv.AppendFloat(b, s.Value, 'f', -1, 64)
	b = append(b, `,"tags":`...)
	b = append(b, o.tagsJSON(s.Tags)...)
	if len(s.Metadata) > 0 {
		b = append(b, `,"metadata":`...)
		b = append(b, o.tagsJSON(metrics.TagsFromMap(s.Metadata))...)
	}
	b = append(b, "}}\n"...)
	_, _ = o.w.Write(b)
	o.line = b
}

// tagsJSON returns the JSON object of a tag set, encoding each distinct set
// once.
func (o *JSONOutput) tagsJSON(t metrics.Tags) []byte {
	h := t.Hash()
	for _, e := range o.tagJSON[h] {
		if e.tags.Equal(t) {
			return e.json
		}
	}
	b := []byte{'{'}
	first := true
	for k, v := range t.All() {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, v)
	}
	b = append(b, '}')
	o.tagJSON[h] = append(o.tagJSON[h], tagJSONEntry{t, b})
	return b
}

// appendJSONString appends s as a JSON string without HTML escaping.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
