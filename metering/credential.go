package metering

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// EmulatorToken is the bearer NewCredential gives for a non-production
// endpoint: emulators accept any token.
const EmulatorToken StaticToken = "local-emulator-token"

// The kinds of credential NewCredential reports, for logs.
const (
	CredentialManagedIdentity  = "managed-identity"
	CredentialWorkloadIdentity = "workload-identity"
	CredentialStatic           = "static-token"
)

// ErrNoIdentity is NewCredential's answer when nothing can get a token for
// the production endpoint.
var ErrNoIdentity = errors.New("metering: no identity for the Metering Service API: " +
	"set the managed identity client id (global.azure.identity.clientId) or a workload identity " +
	"(AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID, AZURE_TENANT_ID); usage is kept and reporting waits until one is configured")

// NewCredential chooses the token source for endpoint and names its kind:
//   - clientID set: the managed identity with that client id, the way of a
//     Kubernetes app, whose client id Azure writes into
//     global.azure.identity.clientId;
//   - else, with AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID and
//     AZURE_TENANT_ID all set: workload identity;
//   - else, for an endpoint other than the production host: EmulatorToken;
//   - else ErrNoIdentity.
func NewCredential(endpoint, clientID string) (azcore.TokenCredential, string, error) {
	clientID = strings.TrimSpace(clientID)
	if clientID != "" {
		cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
			ID: azidentity.ClientID(clientID),
		})
		if err != nil {
			return nil, "", fmt.Errorf("metering: managed identity %s: %w", clientID, err)
		}
		return cred, CredentialManagedIdentity, nil
	}

	file, fileOK := nonEmptyEnv("AZURE_FEDERATED_TOKEN_FILE")
	client, clientOK := nonEmptyEnv("AZURE_CLIENT_ID")
	tenant, tenantOK := nonEmptyEnv("AZURE_TENANT_ID")
	if fileOK && clientOK && tenantOK {
		cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientID:      client,
			TenantID:      tenant,
			TokenFilePath: file,
		})
		if err != nil {
			return nil, "", fmt.Errorf("metering: workload identity: %w", err)
		}
		return cred, CredentialWorkloadIdentity, nil
	}

	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return nil, "", fmt.Errorf("metering: endpoint %q is not an absolute URL", endpoint)
	}
	if !strings.EqualFold(u.Hostname(), productionHost()) {
		return EmulatorToken, CredentialStatic, nil
	}
	return nil, "", ErrNoIdentity
}

func productionHost() string {
	u, _ := url.Parse(DefaultEndpoint)
	return u.Hostname()
}

func nonEmptyEnv(key string) (string, bool) {
	v := strings.TrimSpace(os.Getenv(key))
	return v, v != ""
}

// StaticToken is a fixed bearer token that never expires, for emulators and
// tests. It never prints itself.
type StaticToken string

// GetToken returns the token with a far-future expiry, so that it is never
// refreshed.
func (t StaticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if t == "" {
		return azcore.AccessToken{}, errors.New("metering: empty static token")
	}
	return azcore.AccessToken{
		Token:     string(t),
		ExpiresOn: time.Date(9999, time.December, 31, 0, 0, 0, 0, time.UTC),
	}, nil
}

// String keeps the token out of formatted output.
func (t StaticToken) String() string { return "StaticToken(redacted)" }

// GoString keeps the token out of %#v.
func (t StaticToken) GoString() string { return t.String() }

// LogValue keeps the token out of slog output.
func (t StaticToken) LogValue() slog.Value { return slog.StringValue(t.String()) }
