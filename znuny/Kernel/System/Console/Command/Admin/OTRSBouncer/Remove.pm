# --
# otrs-bouncer: remove what Admin::OTRSBouncer::Setup created (package OTRSBouncer).
# License: AGPL-3.0 (see the otrs-bouncer repository).
# --

package Kernel::System::Console::Command::Admin::OTRSBouncer::Remove;

use strict;
use warnings;

use parent qw(Kernel::System::Console::BaseCommand);

our @ObjectDependencies = (
    'Kernel::System::OTRSBouncer',
);

sub Configure {
    my ( $Self, %Param ) = @_;

    $Self->Description(
        'Removes the web service BounceWebhook, the OTRSBouncer-* PostMaster filters, our PostmasterX-Header '
            . 'entries and the dynamic fields with their values. The agent stays. The package uninstall does the same.'
    );
    $Self->AddOption(
        Name        => 'keep-dynamic-fields',
        Description => 'Keep the dynamic fields and their values (e.g. MailClassification on old tickets).',
        Required    => 0,
        HasValue    => 0,
    );
    return;
}

sub Run {
    my ( $Self, %Param ) = @_;

    my $Ok = $Kernel::OM->Get('Kernel::System::OTRSBouncer')->Uninstall(
        KeepDynamicFields => $Self->GetOption('keep-dynamic-fields') ? 1 : 0,
    );
    if ( !$Ok ) {
        $Self->PrintError('Removal incomplete; see the system log.');
        return $Self->ExitCodeError();
    }
    $Self->Print("<green>Done.</green>\n");
    return $Self->ExitCodeOk();
}

1;
