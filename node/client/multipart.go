package client

import (
	"io"
	"mime/multipart"
	"net/textproto"
)

// The import body: an optional "map" part, then one "file" part per file,
// streamed in order.
const (
	PartMap  = "map"
	PartFile = "file"
)

type multipartWriter struct{ w *multipart.Writer }

func newMultipart(w io.Writer) *multipartWriter { return &multipartWriter{multipart.NewWriter(w)} }

func (m *multipartWriter) contentType() string { return m.w.FormDataContentType() }

func (m *multipartWriter) writeAll(mapping []byte, files []ImportFile) error {
	if mapping != nil {
		p, err := m.w.CreateFormFile(PartMap, "map.yaml")
		if err != nil {
			return err
		}
		if _, err := p.Write(mapping); err != nil {
			return err
		}
	}
	for _, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", multipart.FileContentDisposition(PartFile, f.Name))
		h.Set("Content-Type", "application/octet-stream")
		p, err := m.w.CreatePart(h)
		if err != nil {
			return err
		}
		if _, err := io.Copy(p, f.Body); err != nil {
			return err
		}
	}
	return m.w.Close()
}
