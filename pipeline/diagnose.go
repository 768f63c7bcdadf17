package pipeline

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/internal/oneline"
)

// diagnose says why a check's request failed and what to do about it, in
// one line a person can act on: the network's failures by kind (refused,
// DNS, TLS, timeout), the API's answers by status (401 a bad key, 403 a
// scope or plan, 404 a wrong base_url, 429 the limit and when it resets,
// 5xx the vendor's side, 200 with a web page instead of JSON). It never
// blames the run's budget for a network failure: the budget only stopped
// the retry.
func diagnose(err error, a extract.Account) string {
	host := a.BaseURL
	if u, perr := url.Parse(a.BaseURL); perr == nil && u.Host != "" {
		host = u.Host
	}
	var (
		dns     *net.DNSError
		st      extract.StatusError
		verify  *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		name    x509.HostnameError
		record  tls.RecordHeaderError
		netErr  net.Error
	)
	switch {
	case errors.Is(err, context.Canceled):
		return "interrupted before an answer"
	case errors.As(err, &dns):
		return fmt.Sprintf("DNS: the host name %s does not resolve (%s); check base_url's host name, and this machine's DNS", dns.Name, dnsReason(dns))
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("connection refused by %s: nothing listens there; check base_url's host and port, and that the service is up", host)
	case errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &name):
		return fmt.Sprintf("TLS: the certificate of %s is not trusted (%s); check base_url's host name, or this machine's CA certificates", host, tlsReason(err))
	case errors.As(err, &record) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Sprintf("TLS: %s does not speak TLS; base_url says https:// for a server that answers plain http://", host)
	case errors.As(err, &st):
		return statusDiagnosis(err, st, a, host)
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("timeout: %s did not answer in time (request_timeout); check the network and base_url, or raise request_timeout if the server is slow", host)
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		return fmt.Sprintf("the connection to %s was cut before an answer; check base_url (a proxy or firewall may close it), then try again", host)
	}
	return oneline.Cut(err.Error(), 300) // the source's own words (a RepairOps key of the wrong scope)
}

// statusDiagnosis is diagnose for an API's answer. Where the source
// explained it in its own words (extract.Advice: which scope, where in the
// vendor's settings), those words are the fix.
func statusDiagnosis(err error, st extract.StatusError, a extract.Account, host string) string {
	code := st.HTTPStatus()
	said := ""
	if m := apiMessage(st); m != "" {
		said = " (" + m + ")"
	}
	var advice *extract.Advice
	switch {
	case errors.As(err, &advice):
		return oneline.Cut(fmt.Sprintf("HTTP %d%s: %s", code, said, advice.Text), 300)
	case code == 401:
		return fmt.Sprintf("HTTP 401: the key is refused%s; check that %s holds the shop's current key (generating or resetting a key stops the old one)", said, a.APIKeyEnv)
	case code == 403:
		return fmt.Sprintf("HTTP 403: the key is known but not allowed%s; its scope or the shop's plan does not cover this API: a read-scoped key on a plan with API access is needed", said)
	case code == 404:
		return fmt.Sprintf("HTTP 404 for the API's first path below %s%s: base_url is probably wrong (it names the API's root, e.g. https://…/v1)", a.BaseURL, said)
	case code == 429:
		when := "the API did not say when it resets"
		if r := st.Reset(); !r.IsZero() {
			when = "it resets at " + r.Local().Format(time.RFC3339)
		}
		return fmt.Sprintf("HTTP 429: the key's rate limit is reached%s; %s, and the export keeps the key silent meanwhile; check that no other integration spends it", said, when)
	case code >= 500:
		return fmt.Sprintf("HTTP %d: the API failed on its side%s; try again later, and tell the vendor if it lasts", code, said)
	case code >= 200 && code < 300:
		return fmt.Sprintf("%s answered, but not with the API's JSON%s; check that base_url points at the API, not a website or a login page", host, said)
	}
	return fmt.Sprintf("HTTP %d from %s%s", code, host, said)
}

// apiMessage is what the API said, in short: the error's text after its
// last "HTTP nnn …:" prefix.
func apiMessage(st extract.StatusError) string {
	msg := st.Error()
	if i := strings.LastIndex(msg, fmt.Sprintf("HTTP %d", st.HTTPStatus())); i >= 0 {
		msg = msg[i:]
		if j := strings.Index(msg, ": "); j >= 0 {
			msg = msg[j+2:]
		}
	}
	return oneline.Cut(msg, 120)
}

func dnsReason(e *net.DNSError) string {
	switch {
	case e.IsNotFound:
		return "no such host"
	case e.IsTimeout:
		return "the DNS server did not answer"
	}
	return oneline.Cut(e.Err, 80)
}

func tlsReason(err error) string {
	var name x509.HostnameError
	if errors.As(err, &name) {
		return "it is for another host name"
	}
	return "signed by an authority this machine does not know"
}
