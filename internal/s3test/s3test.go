// Package s3test serves a real S3-protocol server inside a test
// (gofakes3, in memory, path-style), behind a check of each request's AWS
// Signature V4 against one key pair: a wrong secret is refused with 403
// SignatureDoesNotMatch, as S3 refuses it.
package s3test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// The server's one key pair.
const (
	AccessKey = "AKIAEXPORTTEST000001"
	SecretKey = "export-test-secret-key-not-a-real-one"
	Region    = "us-east-1"
)

// Server is a running S3 server.
type Server struct {
	URL     string
	Backend *s3mem.Backend
	http    *httptest.Server
}

// Start serves an S3 server with the given buckets until the test ends.
func Start(t testing.TB, buckets ...string) *Server {
	t.Helper()
	be := s3mem.New()
	for _, b := range buckets {
		if err := be.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	faker := gofakes3.New(be, gofakes3.WithAutoBucket(false))
	s := &Server{Backend: be}
	s.http = httptest.NewServer(verify(faker.Server()))
	s.URL = s.http.URL
	t.Cleanup(s.http.Close)
	return s
}

// Get reads an object straight from the server's storage (for a test's
// own reader: no signature, no iceberg-go).
func (s *Server) Get(bucket, key string) ([]byte, error) {
	obj, err := s.Backend.GetObject(bucket, key, nil)
	if err != nil {
		return nil, err
	}
	defer obj.Contents.Close()
	return io.ReadAll(obj.Contents)
}

// Env is the environment a client of the server needs: the standard AWS
// variables, with secret as the secret key.
func Env(secret string) []string {
	return []string{"AWS_ACCESS_KEY_ID=" + AccessKey, "AWS_SECRET_ACCESS_KEY=" + secret, "AWS_REGION=" + Region,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
}

// verify refuses requests not signed with the server's key pair: it signs
// a copy of the request's signed headers with the secret and compares.
func verify(next http.Handler) http.Handler {
	// S3 signs the path as sent, not escaped twice.
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		fields := map[string]string{}
		for _, part := range strings.Split(strings.TrimPrefix(auth, "AWS4-HMAC-SHA256 "), ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			fields[k] = v
		}
		cred := strings.Split(fields["Credential"], "/")
		if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") || len(cred) != 5 || cred[0] != AccessKey {
			deny(w, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
			return
		}
		at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
		if err != nil {
			deny(w, "AccessDenied", "X-Amz-Date is missing or malformed")
			return
		}
		c := r.Clone(context.Background())
		c.Header = http.Header{}
		for _, h := range strings.Split(fields["SignedHeaders"], ";") {
			if h == "host" {
				continue
			}
			c.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
		c.Host = r.Host
		if raw, _, _ := strings.Cut(r.RequestURI, "?"); raw != "" {
			c.URL.RawPath = raw // the path exactly as the client sent and signed it
		}
		payload := r.Header.Get("X-Amz-Content-Sha256")
		if payload == "" {
			sum := sha256.Sum256(nil)
			payload = hex.EncodeToString(sum[:])
		}
		creds := aws.Credentials{AccessKeyID: AccessKey, SecretAccessKey: SecretKey}
		if err := signer.SignHTTP(context.Background(), creds, c, payload, cred[3], cred[2], at); err != nil {
			deny(w, "AccessDenied", err.Error())
			return
		}
		if want := signature(c.Header.Get("Authorization")); want == "" || want != fields["Signature"] {
			deny(w, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func signature(auth string) string {
	_, sig, _ := strings.Cut(auth, "Signature=")
	return sig
}

func deny(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusForbidden)
	w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>` + code + `</Code><Message>` + msg + `</Message></Error>`))
}
