package test

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode"
)

// uiExpr evaluates the small part of the createUIDefinition expression
// language the form's rules use: not, and, or, equals, toLower, coalesce, steps(...)
// and basics(...) lookups, property access, string, number and boolean
// literals. A missing property is null, as in the portal, and not() of
// null is an error, as there: the rules must say what absence means.
type uiExpr struct {
	src  string
	pos  int
	vars map[string]any // lambda parameters and steps/basics
}

// evalUI evaluates expr ("[...]" or a bare expression) with vars bound.
func evalUI(expr string, vars map[string]any) (any, error) {
	expr = strings.TrimSpace(expr)
	if strings.HasPrefix(expr, "[") && strings.HasSuffix(expr, "]") {
		expr = expr[1 : len(expr)-1]
	}
	e := &uiExpr{src: expr, vars: vars}
	v, err := e.value()
	if err != nil {
		return nil, err
	}
	if e.skip(); e.pos != len(e.src) {
		return nil, fmt.Errorf("unexpected %q at %d", e.src[e.pos:], e.pos)
	}
	return v, nil
}

func (e *uiExpr) skip() {
	for e.pos < len(e.src) && e.src[e.pos] == ' ' {
		e.pos++
	}
}

func (e *uiExpr) ident() string {
	e.skip()
	start := e.pos
	for e.pos < len(e.src) && (unicode.IsLetter(rune(e.src[e.pos])) || unicode.IsDigit(rune(e.src[e.pos])) || e.src[e.pos] == '_' || e.src[e.pos] == '-') {
		e.pos++
	}
	return e.src[start:e.pos]
}

func (e *uiExpr) value() (any, error) {
	e.skip()
	if e.pos >= len(e.src) {
		return nil, fmt.Errorf("unexpected end")
	}
	var v any
	switch c := e.src[e.pos]; {
	case c == '\'':
		end := strings.IndexByte(e.src[e.pos+1:], '\'')
		if end < 0 {
			return nil, fmt.Errorf("unterminated string")
		}
		v, e.pos = e.src[e.pos+1:e.pos+1+end], e.pos+2+end
	case c >= '0' && c <= '9':
		start := e.pos
		for e.pos < len(e.src) && strings.IndexByte("0123456789.", e.src[e.pos]) >= 0 {
			e.pos++
		}
		f, err := strconv.ParseFloat(e.src[start:e.pos], 64)
		if err != nil {
			return nil, err
		}
		v = f
	default:
		name := e.ident()
		if name == "" {
			return nil, fmt.Errorf("unexpected %q at %d", e.src[e.pos:], e.pos)
		}
		if e.skip(); e.pos < len(e.src) && e.src[e.pos] == '(' {
			e.pos++
			var args []any
			for {
				if e.skip(); e.pos < len(e.src) && e.src[e.pos] == ')' {
					e.pos++
					break
				}
				a, err := e.value()
				if err != nil {
					return nil, err
				}
				args = append(args, a)
				if e.skip(); e.pos < len(e.src) && e.src[e.pos] == ',' {
					e.pos++
				}
			}
			var err error
			if v, err = e.call(name, args); err != nil {
				return nil, err
			}
		} else {
			switch name {
			case "true", "false":
				v = name == "true"
			case "null":
				v = nil
			default:
				var ok bool
				if v, ok = e.vars[name]; !ok {
					return nil, fmt.Errorf("unknown name %s", name)
				}
			}
		}
	}
	for e.skip(); e.pos < len(e.src) && e.src[e.pos] == '.'; e.skip() {
		e.pos++
		prop := e.ident()
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("property %s of %v", prop, v)
		}
		v = m[prop] // missing: null
	}
	return v, nil
}

func (e *uiExpr) call(name string, args []any) (any, error) {
	want := func(n int) error {
		if len(args) != n {
			return fmt.Errorf("%s takes %d arguments, got %d", name, n, len(args))
		}
		return nil
	}
	switch name {
	case "not":
		if err := want(1); err != nil {
			return nil, err
		}
		b, ok := args[0].(bool)
		if !ok {
			return nil, fmt.Errorf("not(%v): not a boolean", args[0])
		}
		return !b, nil
	case "or", "and":
		if len(args) < 2 {
			return nil, fmt.Errorf("%s takes at least 2 arguments", name)
		}
		result := name == "and"
		for _, a := range args {
			b, ok := a.(bool)
			if !ok {
				return nil, fmt.Errorf("%s(%v): not a boolean", name, a)
			}
			if name == "and" {
				result = result && b
			} else {
				result = result || b
			}
		}
		return result, nil
	case "equals":
		if err := want(2); err != nil {
			return nil, err
		}
		return reflect.DeepEqual(args[0], args[1]), nil
	case "toLower":
		if err := want(1); err != nil {
			return nil, err
		}
		s, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("toLower(%v): not a string", args[0])
		}
		return strings.ToLower(s), nil
	case "coalesce":
		for _, a := range args {
			if a != nil {
				return a, nil
			}
		}
		return nil, nil
	case "steps", "basics":
		if err := want(1); err != nil {
			return nil, err
		}
		key, _ := args[0].(string)
		v, ok := e.vars[name+"."+key]
		if !ok {
			return nil, fmt.Errorf("%s('%s'): no such element", name, key)
		}
		return v, nil
	}
	return nil, fmt.Errorf("function %s is not understood here", name)
}
