package js

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"path"
	"slices"
	"strings"
	"testing/fstest"
	"time"
)

// An archive is a tar of a script and everything it read at load: k6's
// layout (metadata.json, data for the entry script, file/PATH for the
// script files and the files open() read, https/HOST/PATH for remote
// modules), so that it runs offline and anywhere, as `k6 archive` makes
// it. Nothing outside the archive is read when it runs.

// ArchiveMetadata is an archive's metadata.json, in k6's names.
type ArchiveMetadata struct {
	Type              string            `json:"type"`
	Filename          string            `json:"filename"` // file:///PATH of the entry script
	Pwd               string            `json:"pwd"`
	Env               map[string]string `json:"env"`
	CompatibilityMode string            `json:"compatibilityMode"`
	Options           json.RawMessage   `json:"options,omitempty"`
}

// Archive is a script read from an archive, ready for Load or Plan: its
// Source has the archive's files, Remote its remote modules.
type Archive struct {
	Metadata ArchiveMetadata
	Source   Source
	Remote   ModuleMap
}

// MaxArchiveBytes bounds what ReadArchive unpacks: the sum of the files'
// sizes.
const MaxArchiveBytes = 256 << 20

// WriteArchive writes the program's archive: the entry script, the script
// files and remote modules it imports and the files its init code opened,
// with env (the -e values) and the script's options in the metadata.
func (p *Program) WriteArchive(w io.Writer, env map[string]string) error {
	l := p.loader
	l.mu.RLock()
	sources := maps.Clone(l.sources)
	files := map[string][]byte{}
	for id, f := range l.files {
		files[id] = f.data
	}
	l.mu.RUnlock()
	meta := ArchiveMetadata{Type: "js", Filename: "file://" + l.mainID, Pwd: "file://" + path.Dir(l.mainID),
		Env: env, CompatibilityMode: p.opts.CompatibilityMode, Options: p.RawOptions()}
	if meta.CompatibilityMode == "" {
		meta.CompatibilityMode = "extended"
	}
	if meta.Env == nil {
		meta.Env = map[string]string{}
	}
	mb, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	now := time.Now().Truncate(time.Second)
	put := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	if err := put("metadata.json", mb); err != nil {
		return err
	}
	if err := put("data", sources[l.mainID]); err != nil {
		return err
	}
	all := maps.Clone(files)
	maps.Copy(all, sources)
	for _, id := range slices.Sorted(maps.Keys(all)) {
		if err := put(archivePath(id), all[id]); err != nil {
			return fmt.Errorf("archive %s: %w", id, err)
		}
	}
	return tw.Close()
}

// archivePath is where an archive keeps a module id or file path.
func archivePath(id string) string {
	if u, err := url.Parse(id); err == nil && isRemote(id) {
		return path.Join(u.Scheme, u.Host, u.Path)
	}
	return path.Join("file", id)
}

// ReadArchive reads an archive that WriteArchive (or k6 archive) wrote.
// The Source's file system holds only the archive's files; Remote answers
// only the remote modules inside. Archives are untrusted input: paths
// are cleaned, and ReadArchive stops past MaxArchiveBytes.
func ReadArchive(r io.Reader) (Archive, error) {
	tr := tar.NewReader(r)
	files := fstest.MapFS{}
	remote := ModuleMap{}
	var meta ArchiveMetadata
	var total int64
	haveMeta := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Archive{}, fmt.Errorf("archive: %w", err)
		}
		if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeLink {
			continue
		}
		total += h.Size
		if total > MaxArchiveBytes {
			return Archive{}, fmt.Errorf("archive: more than %d bytes", MaxArchiveBytes)
		}
		name := path.Clean("/" + h.Name)[1:]
		var b []byte
		if h.Typeflag == tar.TypeLink { // k6 links the entry script to data
			target := path.Clean("/" + h.Linkname)[1:]
			f, ok := files[fsPath(target)]
			if target == "data" {
				f, ok = files["\x00data"]
			}
			if !ok {
				continue
			}
			b = f.Data
		} else if b, err = io.ReadAll(io.LimitReader(tr, h.Size)); err != nil {
			return Archive{}, fmt.Errorf("archive: %s: %w", h.Name, err)
		}
		switch {
		case name == "metadata.json":
			if err := json.Unmarshal(b, &meta); err != nil {
				return Archive{}, fmt.Errorf("archive: metadata.json: %w", err)
			}
			haveMeta = true
		case name == "data":
			files["\x00data"] = &fstest.MapFile{Data: b}
		case strings.HasPrefix(name, "file/"):
			files[strings.TrimPrefix(name, "file/")] = &fstest.MapFile{Data: b}
		case strings.HasPrefix(name, "https/"):
			remote["https://"+strings.TrimPrefix(name, "https/")] = b
		}
	}
	delete(files, "\x00data")
	if !haveMeta {
		return Archive{}, errors.New("archive: no metadata.json")
	}
	main, ok := strings.CutPrefix(meta.Filename, "file://")
	if !ok || files[fsPath(path.Clean("/"+main))] == nil {
		return Archive{}, fmt.Errorf("archive: the entry script %q is not inside", meta.Filename)
	}
	return Archive{Metadata: meta, Source: Source{Path: path.Clean("/" + main), FS: files}, Remote: remote}, nil
}

// ModuleMap holds remote modules by URL, such as those inside an archive,
// and answers them offline: a URL it lacks is refused, never fetched.
type ModuleMap map[string][]byte

// FetchModule implements ModuleFetcher, offline.
func (a ModuleMap) FetchModule(_ context.Context, u string) ([]byte, error) {
	b, ok := a[u]
	if !ok {
		return nil, fmt.Errorf("%w: %s is not in the archive", ErrModuleRefused, u)
	}
	return bytes.Clone(b), nil
}
