package vmac

import (
	"errors"
	"fmt"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// IGMPTable is the nftables table (families ip and ip6) DropIGMP and
// DropMLD manage.
const IGMPTable = "xlb_vmac"

// DropIGMP makes the kernel drop the IGMP packets it would send out of the
// VMAC interfaces names, in the calling thread's network namespace; no
// names removes the table. The instance's socket joins the VRRP group on
// its VMAC (that is where the other directors' adverts arrive: the
// macvlan takes frames from its own MAC), and the kernel would report
// that membership from the virtual MAC, on a backup too: a switch then
// learns the virtual MAC at the backup's port and sends it the master's
// traffic until the master's next advert. keepalived 2.2.7 adds the same
// kind of rule (it duplicates the reports to the base interface first;
// the VRRP groups are link-local, which switches flood whatever reports
// they see).
func DropIGMP(names []string) error {
	return dropOut(nftables.TableFamilyIPv4, names, []match{{unix.IPPROTO_IGMP, -1}})
}

// DropMLD is DropIGMP for IPv6 VMACs: their MLD reports (v1, v2 and
// done) and router solicitations, as keepalived 2.2.7's ip6 rules drop
// the MLDv2 reports and router solicitations.
func DropMLD(names []string) error {
	var ms []match
	for _, typ := range []int{131, 132, 143, 133} {
		ms = append(ms, match{unix.IPPROTO_ICMPV6, typ})
	}
	return dropOut(nftables.TableFamilyIPv6, names, ms)
}

// match is one kind of packet dropped: its protocol and, for ICMPv6, its
// type (-1: any).
type match struct{ proto, icmpType int }

func dropOut(family nftables.TableFamily, names []string, ms []match) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("vmac: nftables: %w", err)
	}
	t := &nftables.Table{Family: family, Name: IGMPTable}
	tables, err := c.ListTablesOfFamily(family)
	if err != nil {
		return fmt.Errorf("vmac: nftables: list tables: %w", err)
	}
	if slices.ContainsFunc(tables, func(x *nftables.Table) bool { return x.Name == IGMPTable }) {
		c.DelTable(t)
	}
	if len(names) > 0 {
		c.AddTable(t)
		ch := c.AddChain(&nftables.Chain{
			Name: "out", Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityRef(*nftables.ChainPriorityFilter - 1),
		})
		for _, n := range names {
			for _, m := range ms {
				e := []expr.Any{
					&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(n)},
					&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(m.proto)}},
				}
				if m.icmpType >= 0 {
					e = append(e,
						&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
						&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(m.icmpType)}})
				}
				c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: append(e, &expr.Verdict{Kind: expr.VerdictDrop})})
			}
		}
	}
	if err := c.Flush(); err != nil {
		if errors.Is(err, unix.ENOENT) && len(names) == 0 {
			return nil
		}
		return fmt.Errorf("vmac: nftables table %s: %w", IGMPTable, err)
	}
	return nil
}

// ifname is an interface name as nftables compares it: NUL-padded to
// IFNAMSIZ.
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}
