module github.com/loadlens/loadlens

go 1.26.0

require (
	github.com/DataDog/sketches-go v1.4.8
	github.com/stretchr/testify v1.12.1
)

require (
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
