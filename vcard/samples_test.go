package vcard

// wantCards holds the exact values of selected sample files, checked by
// hand against the files (the Lotus Notes NOTE really contains "P URPOSE";
// Android's 2.1 quoted-printable names have trailing spaces, trimmed).
var wantCards = map[string][]Card{
	"John_Doe_ANDROID.vcf": {
		{
			Version: "2.1",
			Emails: []Typed{
				{Type: "other", Value: "john.doe@company.com", Pref: true},
			},
			Categories: []string{"My Contacts"},
			Line:       1,
		},
		{
			Version: "2.1",
			Emails: []Typed{
				{Type: "other", Value: "jane.doe@company.com", Pref: true},
			},
			Categories: []string{"My Contacts"},
			Line:       6,
		},
		{
			Version: "2.1", FormattedName: "Ñ Ñ Ñ Ñ Ñ",
			FamilyName: "Ñ Ñ Ñ Ñ",
			Phones: []Typed{
				{Type: "mobile", Value: "123456789", Pref: true},
			},
			Categories: []string{"My Contacts"},
			Line:       11,
		},
		{
			Version: "2.1", FormattedName: "Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ",
			FamilyName: "Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ",
			Phones: []Typed{
				{Type: "mobile", Value: "123456", Pref: true},
				{Type: "home", Value: "234567"},
				{Type: "mobile", Value: "3456789"},
				{Type: "home", Value: "45678901"},
			},
			Note:       "Ñ Ñ Ñ Ñ Ñ Ñ Ñ ÑÑ Ñ Ñ Ñ Ñ Ñ Ñ ÑÑ Ñ Ñ Ñ Ñ",
			Categories: []string{"My Contacts"},
			Line:       18,
		},
		{
			Version: "2.1", FormattedName: "Ñ Ñ Ñ Ñ",
			FamilyName: "Ñ Ñ", GivenName: "Ñ Ñ Ñ",
			Organization: "ÑÑÑÑÑÑÑÑÑÑÑÑ",
			Emails: []Typed{
				{Type: "work", Value: "bob@company.com", Pref: true},
				{Type: "other", Value: "ÑÑÑÑÑÑÑÑÑÑÑÑÑÑ", Pref: true},
			},
			Phones: []Typed{
				{Type: "mobile", Value: "123456", Pref: true},
				{Type: "work", Value: "123456"},
				{Type: "work", Value: "123456"},
			},
			URL:  "www.company.com",
			Line: 36,
		},
		{
			Version: "2.1", FormattedName: "ÑÑÑÑ",
			FamilyName:   "ÑÑÑÑ",
			Organization: "ÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑ",
			Emails: []Typed{
				{Type: "other", Value: "henry@company.com", Pref: true},
			},
			Phones: []Typed{
				{Type: "mobile", Value: "55556666", Pref: true},
			},
			Categories: []string{"My Contacts"},
			Line:       71,
		},
	},
	"rfc6350-example.vcf": {
		{
			Version: "4.0", FormattedName: "Simon Perreault",
			FamilyName: "Perreault", GivenName: "Simon", HonorificSuffix: "ing. jr,M.Sc.",
			Organization: "Viagenie",
			Emails: []Typed{
				{Type: "work", Value: "simon.perreault@viagenie.ca"},
			},
			Phones: []Typed{
				{Type: "work", Value: "+1-418-656-9254;ext=102", Pref: true},
				{Type: "work", Value: "+1-418-262-6501"},
			},
			Addresses: []Address{
				{Type: "work", Street: "2875 Laurier\nSuite D2-630", Locality: "Quebec", Region: "QC", PostalCode: "G1V 2M2", Country: "Canada"},
			},
			Birthday: "--0203",
			URL:      "http://nomis80.org",
			Line:     1,
		},
	},
	"outlook-2007.vcf": {
		{
			Version: "2.1", FormattedName: "Mr. Michael Angstadt Jr.",
			FamilyName: "Angstadt", GivenName: "Michael", HonorificPrefix: "Mr.", HonorificSuffix: "Jr.",
			Organization: "TheCompany", Title: "TheJobTitle",
			Emails: []Typed{
				{Type: "other", Value: "mike.angstadt@gmail.com", Pref: true},
			},
			Phones: []Typed{
				{Type: "work", Value: "(111) 555-1111"},
				{Type: "home", Value: "(111) 555-2222"},
				{Type: "mobile", Value: "(111) 555-4444"},
				{Type: "work", Value: "(111) 555-3333"},
			},
			Addresses: []Address{
				{Type: "work", Street: "222 Broadway\nTheOffice", Locality: "New York", Region: "NY", PostalCode: "99999", Country: "USA"},
			},
			Birthday: "1922-03-10",
			Note:     "This is the NOTE field\t\nI assume it encodes this text inside a NOTE vCard type.\nBut I'm not sure because there's text formatting going on here.\nIt does not preserve the formatting",
			URL:      "http://mikeangstadt.name",
			Line:     1,
		},
	},
	"John_Doe_IPHONE.vcf": {
		{
			Version: "3.0", FormattedName: "Mr. John Richter James Doe Sr.",
			FamilyName: "Doe", GivenName: "John", AdditionalNames: "Richter,James", HonorificPrefix: "Mr.", HonorificSuffix: "Sr.",
			Organization: "IBM", Title: "Money Counter",
			Emails: []Typed{
				{Type: "other", Value: "john.doe@ibm.com", Pref: true},
			},
			Phones: []Typed{
				{Type: "mobile", Value: "905-555-1234", Pref: true},
				{Type: "home", Value: "905-666-1234"},
				{Type: "work", Value: "905-777-1234"},
				{Type: "home", Value: "905-888-1234"},
				{Type: "work", Value: "905-999-1234"},
				{Type: "pager", Value: "905-111-1234"},
				{Type: "other", Value: "905-222-1234"},
			},
			Addresses: []Address{
				{Type: "home", Street: "Silicon Alley 5,", Locality: "New York", Region: "New York", PostalCode: "12345", Country: "United States of America"},
				{Type: "work", Street: "Street4\nBuilding 6\nFloor 8", Locality: "New York", PostalCode: "12345", Country: "USA"},
			},
			Birthday: "2012-06-06",
			URL:      "http://www.ibm.com",
			Line:     1,
		},
	},
	"John_Doe_LOTUS_NOTES.vcf": {
		{
			Version: "3.0", FormattedName: "Mr. Doe John I Johny",
			FamilyName: "Doe", GivenName: "John", AdditionalNames: "Johny", HonorificPrefix: "Mr.", HonorificSuffix: "I",
			Organization: "IBM", Title: "Generic Accountant",
			Emails: []Typed{
				{Type: "work", Value: "john.doe@ibm.com", Pref: true},
				{Type: "work", Value: "billy_bob@gmail.com"},
			},
			Phones: []Typed{
				{Type: "mobile", Value: "+1 (212) 204-34456", Pref: true},
				{Type: "work", Value: "00-1-212-555-7777"},
			},
			Addresses: []Address{
				{Type: "home", Street: "25334\nSouth cresent drive, Building 5, 3rd floo r", Locality: "New York", Region: "New York", PostalCode: "NYC887", Country: "U.S.A."},
			},
			Birthday: "1980-05-21",
			Note:     "THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS \"AS IS\"\nAND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO , THE\nIMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR P URPOSE\nARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT OWNER OR CONTRIBUTOR S BE\nLIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR\nCONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF\n SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS \nINTERRUPTION) HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN\n CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE)\nA RISING IN ANY WAY OUT OF THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE\n POSSIBILITY OF SUCH DAMAGE.",
			URL:      "http://www.sun.com",
			UID:      "0e7602cc-443e-4b82-b4b1-90f62f99a199",
			Line:     1,
		},
	},
	"rfc2426-example.vcf": {
		{
			Version: "3.0", FormattedName: "Frank Dawson",
			Organization: "Lotus Development Corporation",
			Emails: []Typed{
				{Type: "other", Value: "Frank_Dawson@Lotus.com", Pref: true},
				{Type: "other", Value: "fdawson@earthlink.net"},
			},
			Phones: []Typed{
				{Type: "work", Value: "+1-919-676-9515"},
				{Type: "fax", Value: "+1-919-676-9564"},
			},
			Addresses: []Address{
				{Type: "work", Street: "6544 Battleford Drive", Locality: "Raleigh", Region: "NC", PostalCode: "27613-3502", Country: "U.S.A."},
			},
			URL:  "http://home.earthlink.net/~fdawson",
			Line: 1,
		},
		{
			Version: "3.0", FormattedName: "Tim Howes",
			Organization: "Netscape Communications Corp.",
			Emails: []Typed{
				{Type: "other", Value: "howes@netscape.com"},
			},
			Phones: []Typed{
				{Type: "work", Value: "+1-415-937-3419"},
				{Type: "fax", Value: "+1-415-528-4164"},
			},
			Addresses: []Address{
				{Type: "work", Street: "501 E. Middlefield Rd.", Locality: "Mountain View", Region: "CA", PostalCode: "94043", Country: "U.S.A."},
			},
			Line: 13,
		},
	},
}
