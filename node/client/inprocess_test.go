package client

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// TestNewInProcess: a client served by a handler in process sends the
// token and the API's Host, and gets answers and errors as over TCP.
func TestNewInProcess(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" || r.Host != "127.0.0.1:7300" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"org":"hosp-a"}`))
	})
	mux.HandleFunc("GET /v1/members", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":"no consortium","kind":"not_found"}`))
	})
	c := NewInProcess(mux, "127.0.0.1:7300", "tok")
	st, err := c.Status(context.Background())
	if err != nil || st.Org != "hosp-a" {
		t.Fatalf("status %+v %v", st, err)
	}
	var ae *Error
	if _, err := c.Members(context.Background()); !errors.As(err, &ae) || ae.Status != http.StatusNotFound || ae.Msg != "no consortium" {
		t.Fatalf("members: %v", err)
	}
}
