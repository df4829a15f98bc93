// Package textout writes reports of many lines and tables, keeping the first write error
// so the caller checks once.
package textout

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Writer is a writer that remembers its first error, so a report of many lines checks
// once, at the end.
type Writer struct {
	w   io.Writer
	tw  *tabwriter.Writer // set when this writes a table
	err error
}

// Err is the first write error.
func (s *Writer) Err() error { return s.err }

// New wraps w.
func New(w io.Writer) *Writer { return &Writer{w: w} }

// Table is a writer that aligns tab-separated columns until flush.
func Table(w io.Writer) *Writer {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	return &Writer{w: tw, tw: tw}
}

// Write writes p unless an earlier write failed.
func (s *Writer) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	s.err = err
	return n, err
}

// Printf formats a line part.
func (s *Writer) Printf(format string, a ...any) { _, _ = fmt.Fprintf(s, format, a...) }

// Println writes one line.
func (s *Writer) Println(line string) { _, _ = fmt.Fprintln(s, line) }

// Check keeps err when it is the first.
func (s *Writer) Check(err error) {
	if s.err == nil {
		s.err = err
	}
}

// Flush writes a table out and returns the first error.
func (s *Writer) Flush() error {
	if s.tw != nil {
		s.Check(s.tw.Flush())
	}
	return s.err
}
