//go:build !linux

package layer2

import "errors"

func listLinks() ([]linkInfo, error) {
	return nil, errors.New("layer2: listing links needs Linux")
}
