package loadtest

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
)

// CSVOutput writes samples as k6's `--out csv` does: a header, then one
// row per sample with the metric, the Unix time in seconds, the value with
// six decimals, a column per enabled system tag (sorted by name), the
// other tags as extra_tags and the metadata as metadata, both "k=v&k=v".
// Buffered rows are written every second, as k6's saveInterval.
type CSVOutput struct {
	gz        *gzip.Writer
	buf       *bufio.Writer
	w         *csv.Writer
	columns   []string // the system tags with a column of their own
	row       []string
	lastFlush time.Time
	tagCells  map[uint64][]csvTagCells // each distinct tag set's cells, by hash
}

// csvTagCells are a tag set's column cells and extra_tags cell.
type csvTagCells struct {
	tags  metrics.Tags
	cells []string // one per column, then extra_tags
}

var _ Output = (*CSVOutput)(nil)

// csvFlushPeriod is k6's default saveInterval.
const csvFlushPeriod = time.Second

// NewCSVOutput returns an output writing to w, gzip-compressed when
// compress is set (k6 does so for file names ending in ".gz"). The caller
// closes w after the run.
func NewCSVOutput(w io.Writer, compress bool) *CSVOutput {
	o := &CSVOutput{tagCells: map[uint64][]csvTagCells{}}
	if compress {
		o.gz = gzip.NewWriter(w)
		w = o.gz
	}
	o.buf = bufio.NewWriterSize(w, 64<<10)
	o.w = csv.NewWriter(o.buf)
	return o
}

// Start implements Output: it writes the header.
func (o *CSVOutput) Start(info RunInfo) error {
	tags := info.Plan.Options.SystemTags
	if tags == nil {
		tags = k6http.DefaultSystemTags()
	}
	o.columns = slices.DeleteFunc(slices.Sorted(slices.Values(tags)), func(t string) bool {
		return t == "vu" || t == "iter" // k6 writes these as metadata
	})
	header := append([]string{"metric_name", "timestamp", "metric_value"}, o.columns...)
	header = append(header, "extra_tags", "metadata")
	o.row = make([]string, len(header))
	o.lastFlush = time.Now()
	return o.w.Write(header)
}

// AddSamples implements Output.
func (o *CSVOutput) AddSamples(batch []metrics.Sample) {
	for i := range batch {
		s := &batch[i]
		row := o.row
		row[0] = s.Metric.Name
		row[1] = strconv.FormatInt(s.Time.Unix(), 10)
		row[2] = strconv.FormatFloat(s.Value, 'f', 6, 64)
		copy(row[3:], o.cellsOf(s.Tags))
		row[len(row)-1] = ""
		if len(s.Metadata) > 0 {
			var meta strings.Builder
			for _, k := range slices.Sorted(maps.Keys(s.Metadata)) {
				appendPair(&meta, k, s.Metadata[k])
			}
			row[len(row)-1] = meta.String()
		}
		_ = o.w.Write(row)
	}
	if now := time.Now(); now.Sub(o.lastFlush) >= csvFlushPeriod {
		o.lastFlush = now
		o.flush()
	}
}

// cellsOf returns the column cells and the extra_tags cell of a tag set,
// made once per distinct set: samples mostly repeat a few.
func (o *CSVOutput) cellsOf(t metrics.Tags) []string {
	h := t.Hash()
	for _, e := range o.tagCells[h] {
		if e.tags.Equal(t) {
			return e.cells
		}
	}
	cells := make([]string, len(o.columns)+1)
	for j, c := range o.columns {
		cells[j], _ = t.Get(c)
	}
	var extra strings.Builder
	for k, v := range t.All() {
		if !slices.Contains(o.columns, k) {
			appendPair(&extra, k, v)
		}
	}
	cells[len(cells)-1] = extra.String()
	o.tagCells[h] = append(o.tagCells[h], csvTagCells{t, cells})
	return cells
}

func appendPair(b *strings.Builder, k, v string) {
	if b.Len() > 0 {
		b.WriteByte('&')
	}
	b.WriteString(k)
	b.WriteByte('=')
	b.WriteString(v)
}

func (o *CSVOutput) flush() error {
	o.w.Flush()
	if err := o.w.Error(); err != nil {
		return err
	}
	return o.buf.Flush()
}

// Stop implements Output: it flushes and ends the gzip stream.
func (o *CSVOutput) Stop(Result) error {
	if err := o.flush(); err != nil {
		return err
	}
	if o.gz != nil {
		return o.gz.Close()
	}
	return nil
}
