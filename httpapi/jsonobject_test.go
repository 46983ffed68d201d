package httpapi

import (
	"encoding/json"
	"testing"
)

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	cases := []string{"", "plain", `quote " back \ slash`, "<script>&</script>", "line\nbreak\r\ttab\b\f", "\x00\x01\x1f\x7f",
		"Zoë 张伟 🙂", "\u2028\u2029", "bad \xff utf8 \xc3", "a\u0085b"}
	for _, s := range cases {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("%q: got %s want %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "<&>", "\u2028", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s want %s", s, got, want)
		}
	})
}

func TestObjectKeepsOrder(t *testing.T) {
	o := newObject(3)
	o.Set("z", int64(1))
	o.Set("a", nil)
	o.Set("m", []map[string]any{{"k": "v"}})
	o.Set("z", true)
	b, err := json.Marshal(o)
	if err != nil || string(b) != `{"z":true,"a":null,"m":[{"k":"v"}]}` {
		t.Fatalf("%s %v", b, err)
	}
}
