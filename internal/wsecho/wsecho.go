// Package wsecho is a loopback WebSocket echo handler for tests and
// benchmarks: every message comes back as it was sent; the text message
// "close" is answered with a close frame (1000, "bye").
package wsecho

import (
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// Handler serves the echo on any path.
func Handler() http.Handler {
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if typ == websocket.TextMessage && string(msg) == "close" {
				_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
				continue
			}
			if err := c.WriteMessage(typ, msg); err != nil {
				return
			}
		}
	})
}
