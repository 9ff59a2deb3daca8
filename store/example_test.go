package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/loadlens/loadlens/store"
)

// A tenant and its API key: the key is shown once, the store keeps its hash.
func ExampleStore_AddTenant() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "loadlens-store")
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, filepath.Join(dir, "loadlens.db"))
	if err != nil {
		panic(err)
	}
	defer st.Close()

	key, err := st.AddTenant(ctx, "acme")
	if err != nil {
		panic(err)
	}
	tenant, keyID, err := st.Authenticate(ctx, key)
	fmt.Println(tenant.ID, keyID == store.KeyID(key), err)
	_, _, err = st.Authenticate(ctx, key+"x")
	fmt.Println(err)
	// Output:
	// acme true <nil>
	// invalid API key
}
