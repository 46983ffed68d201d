package normalize

import (
	"encoding/csv"
	"os"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// datablistPhones returns both phone columns of the datablist file (real
// messy numbers), or nothing when the shared data is absent.
func datablistPhones(t *testing.T) []string {
	f, err := os.Open("../../shared/data/datablist-customers/customers-10000.csv")
	if err != nil {
		return nil
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows[1:] {
		out = append(out, r[7], r[8])
	}
	return out
}

// The fast path must give exactly what the library gives for the raw text.
func TestPhoneFastPathMatchesLibrary(t *testing.T) {
	inputs := []string{"(209)172-7124x3651", "+1-541-754-3010", "001-541-754-3010", "043-797-5229", "915.112.1727",
		"+44 20 7946 0958", "(415) 555-0100 ext. 12", "555-0100", "+86 138 0013 8000", "1-800-FLOWERS", "+1 (650) 253-0000 #22", "123"}
	inputs = append(inputs, datablistPhones(t)...)
	checked := 0
	for _, in := range inputs {
		for _, region := range []string{"US", "DE", "CN"} {
			want, werr := phonenumbers.Parse(in, region)
			got, gerr := parse(in, region)
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("%q %s: error mismatch %v vs %v", in, region, werr, gerr)
			}
			if werr != nil {
				continue
			}
			if phonenumbers.Format(want, phonenumbers.E164) != phonenumbers.Format(got, phonenumbers.E164) ||
				want.GetExtension() != got.GetExtension() ||
				phonenumbers.IsPossibleNumberWithReason(want) != phonenumbers.IsPossibleNumberWithReason(got) {
				t.Fatalf("%q %s: library %s x%s, fast %s x%s", in, region, phonenumbers.Format(want, phonenumbers.E164), want.GetExtension(),
					phonenumbers.Format(got, phonenumbers.E164), got.GetExtension())
			}
			checked++
		}
	}
	if checked < 3*len(inputs)/2 {
		t.Fatalf("only %d of %d comparisons parsed", checked, 3*len(inputs))
	}
}

// referencePhoneNumber is PhoneNumber computed by the library alone,
// without either fast path.
func referencePhoneNumber(s, region string) Phone {
	p := Phone{Original: strings.TrimSpace(s)}
	in := p.Original
	if in == "" {
		return p
	}
	if strings.HasPrefix(in, "00") {
		in = "+" + in[2:]
	} else if strings.HasPrefix(in, "tel:") {
		in = strings.TrimPrefix(in, "tel:")
	}
	num, err := phonenumbers.Parse(in, strings.ToUpper(region))
	if err != nil || phonenumbers.IsPossibleNumberWithReason(num) != phonenumbers.IS_POSSIBLE {
		return p
	}
	return Phone{E164: phonenumbers.Format(num, phonenumbers.E164), Ext: num.GetExtension(), Original: p.Original, Valid: true}
}

func TestPhoneFastPathsMatchLibrary(t *testing.T) {
	inputs := []string{"(209)172-7124x3651", "+1-541-754-3010", "001-541-754-3010", "043-797-5229", "915.112.1727", "1-915-112-1727",
		"+1 (650) 253-0000 ext. 7", "650 253 0000", "16502530000", "+16502530000", "1 650 253 0000 x12", "+44 20 7946 0958",
		"123-456-7890", "+1 123 456 7890", "2345678901234", "555-0100", "+86 138 0013 8000", "tel:+1-201-555-0123"}
	inputs = append(inputs, datablistPhones(t)...)
	fast := 0
	for _, in := range inputs {
		for _, region := range []string{"US", "CA", "DE", "CN", "us"} {
			want := referencePhoneNumber(in, region)
			got := PhoneNumber(in, region)
			if got != want {
				t.Fatalf("%q %s: got %+v, library %+v", in, region, got, want)
			}
			if _, ok := nanp(in, strings.ToUpper(region)); ok {
				fast++
			}
		}
	}
	if fast == 0 {
		t.Fatal("the fast path never ran")
	}
}
