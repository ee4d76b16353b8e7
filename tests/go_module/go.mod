module example.com/proxywasm/gofilter

go 1.24
