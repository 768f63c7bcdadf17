package pgtest

import (
	"database/sql"
	"testing"
)

func TestStarts(t *testing.T) {
	uri := Start(t)
	db, err := sql.Open("pgx", uri)
	if err != nil {
		t.Fatal(err)
	}
	var v string
	if err := db.QueryRow("select version()").Scan(&v); err != nil {
		t.Fatal(err)
	}
	t.Log(v)
}
