package metering_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/azure-vote/azure-vote/metering"
)

func TestNewCredential(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("service-account-jwt"), 0o600); err != nil {
		t.Fatal(err)
	}
	workload := map[string]string{
		"AZURE_FEDERATED_TOKEN_FILE": tokenFile,
		"AZURE_CLIENT_ID":            "5f3c1f1e-8a36-4c36-9f0b-6c1a2b3c4d5e",
		"AZURE_TENANT_ID":            "72f988bf-86f1-41af-91ab-2d7cd011db47",
	}
	partial := map[string]string{
		"AZURE_FEDERATED_TOKEN_FILE": tokenFile,
		"AZURE_CLIENT_ID":            "5f3c1f1e-8a36-4c36-9f0b-6c1a2b3c4d5e",
	}
	const emulator = "http://127.0.0.1:8089/api"

	tests := []struct {
		name     string
		endpoint string
		clientID string
		env      map[string]string
		want     string // kind; "" means ErrNoIdentity
		check    func(t *testing.T, cred azcore.TokenCredential)
	}{
		{name: "client id wins over workload identity", endpoint: metering.DefaultEndpoint,
			clientID: "0d6b1d5c-1c0e-4d7f-9a4e-3b2a1c0d9e8f", env: workload, want: metering.CredentialManagedIdentity,
			check: isType[*azidentity.ManagedIdentityCredential]},
		{name: "client id even for an emulator", endpoint: emulator,
			clientID: "0d6b1d5c-1c0e-4d7f-9a4e-3b2a1c0d9e8f", want: metering.CredentialManagedIdentity,
			check: isType[*azidentity.ManagedIdentityCredential]},
		{name: "workload identity", endpoint: metering.DefaultEndpoint,
			env: workload, want: metering.CredentialWorkloadIdentity,
			check: isType[*azidentity.WorkloadIdentityCredential]},
		{name: "partial workload env falls through to the emulator token", endpoint: emulator,
			env: partial, want: metering.CredentialStatic,
			check: func(t *testing.T, cred azcore.TokenCredential) {
				if cred != metering.EmulatorToken {
					t.Errorf("credential = %v, want EmulatorToken", cred)
				}
			}},
		{name: "any non-production host gets the emulator token", endpoint: "https://metering-emulator.test/api",
			clientID: "  ", want: metering.CredentialStatic},
		{name: "production without identity", endpoint: metering.DefaultEndpoint, env: partial},
		{name: "production with blank client id", endpoint: "https://MarketplaceAPI.microsoft.com/api", clientID: " "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_ID", "AZURE_TENANT_ID"} {
				t.Setenv(k, tt.env[k])
			}
			cred, kind, err := metering.NewCredential(tt.endpoint, tt.clientID)
			if tt.want == "" {
				if !errors.Is(err, metering.ErrNoIdentity) || cred != nil {
					t.Fatalf("NewCredential = %v, %q, %v; want ErrNoIdentity", cred, kind, err)
				}
				if !strings.Contains(err.Error(), "waits until") {
					t.Errorf("error %q does not say reporting waits", err)
				}
				return
			}
			if err != nil || kind != tt.want || cred == nil {
				t.Fatalf("NewCredential = %T, %q, %v; want kind %q", cred, kind, err, tt.want)
			}
			if tt.check != nil {
				tt.check(t, cred)
			}
		})
	}

	t.Run("bad endpoint", func(t *testing.T) {
		for _, k := range []string{"AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_ID", "AZURE_TENANT_ID"} {
			t.Setenv(k, "")
		}
		if _, _, err := metering.NewCredential("not a url", ""); err == nil {
			t.Error("NewCredential accepted a relative endpoint")
		}
	})
}

func isType[T azcore.TokenCredential](t *testing.T, cred azcore.TokenCredential) {
	t.Helper()
	if _, ok := cred.(T); !ok {
		var want T
		t.Errorf("credential is %T, want %T", cred, want)
	}
}

func TestStaticToken(t *testing.T) {
	tk, err := metering.StaticToken("abc").GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{metering.Scope}})
	if err != nil || tk.Token != "abc" {
		t.Fatalf("GetToken = %+v, %v", tk, err)
	}
	if tk.ExpiresOn.Before(time.Now().AddDate(100, 0, 0)) {
		t.Errorf("expires %v, want the far future", tk.ExpiresOn)
	}
	if _, err := metering.StaticToken("").GetToken(t.Context(), policy.TokenRequestOptions{}); err == nil {
		t.Error("an empty static token was handed out")
	}
}
