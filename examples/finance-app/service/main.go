// Command finance-api is the example finance app's HTTP service: a tiny
// budget API that the demo and the real-node tests deploy, so "the app
// answers" means a real process in a real container answered.
//
// Endpoints: / (a budget summary in $CURRENCY), /healthz, /readyz, and
// /version, which reports the image tag baked into the image at build time
// ($FINANCE_API_VERSION), so a rollout or a rollback is visible from outside.
package main

import (
	"context"
	"encoding/json"
	"log"
	"math"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

type budgetLine struct {
	Category string  `json:"category"`
	Budget   float64 `json:"budget"`
	Spent    float64 `json:"spent"`
	Alert    bool    `json:"alert"`
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func cents(amount float64) float64 {
	return math.Round(amount*100) / 100
}

func summary() map[string]any {
	threshold, err := strconv.ParseFloat(env("BUDGET_ALERT_THRESHOLD", "0.9"), 64)
	if err != nil {
		threshold = 0.9
	}
	lines := []budgetLine{
		{Category: "rent", Budget: 1200, Spent: 1200},
		{Category: "groceries", Budget: 450, Spent: 318.4},
		{Category: "transport", Budget: 120, Spent: 112.9},
	}
	var budget, spent float64
	for i := range lines {
		lines[i].Alert = lines[i].Spent >= threshold*lines[i].Budget
		budget += lines[i].Budget
		spent += lines[i].Spent
	}
	return map[string]any{
		"service":  "finance-api",
		"currency": env("CURRENCY", "EUR"),
		"budget":   cents(budget),
		"spent":    cents(spent),
		"lines":    lines,
	}
}

func handler(started time.Time) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("/version", func(w http.ResponseWriter, _ *http.Request) {
		host, _ := os.Hostname()
		writeJSON(w, http.StatusOK, map[string]string{
			"service": "finance-api",
			"version": env("FINANCE_API_VERSION", "unknown"),
			"pod":     host,
			"started": started.UTC().Format(time.RFC3339),
		})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
			return
		}
		writeJSON(w, http.StatusOK, summary())
	})
	return mux
}

func main() {
	addr := ":" + env("PORT", "8080")
	server := &http.Server{
		Addr:              addr,
		Handler:           handler(time.Now()),
		ReadHeaderTimeout: 5 * time.Second,
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
	}()
	log.Printf("finance-api %s listening on %s", env("FINANCE_API_VERSION", "unknown"), addr)
	if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
