module example.com/finance-api

go 1.22
