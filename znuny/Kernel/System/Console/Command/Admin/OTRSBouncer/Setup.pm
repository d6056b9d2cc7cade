# --
# otrs-bouncer: connect Znuny to the bouncer in one step (package OTRSBouncer).
# License: AGPL-3.0 (see the otrs-bouncer repository).
# --

package Kernel::System::Console::Command::Admin::OTRSBouncer::Setup;

use strict;
use warnings;

use parent qw(Kernel::System::Console::BaseCommand);

our @ObjectDependencies = (
    'Kernel::System::OTRSBouncer',
);

sub Configure {
    my ( $Self, %Param ) = @_;

    $Self->Description(
        'Creates what otrs-bouncer needs (dynamic fields, PostMaster filters, PostmasterX-Header, web service '
            . 'BounceWebhook) and connects the web service to the bouncer. Rerun it to change a setting.'
    );
    my %Option = ( Required => 0, HasValue => 1 );
    $Self->AddOption( %Option, Name => 'url', Required => 1, ValueRegex => qr{\Ahttps?://}i,
        Description => "The bouncer's base URL, e.g. https://bouncer.example (no path)." );
    $Self->AddOption( %Option, Name => 'webhook-user', ValueRegex => qr/\S/,
        Description => 'BOUNCER_WEBHOOK_USER (default: webhook).' );
    $Self->AddOption( %Option, Name => 'webhook-password', ValueRegex => qr/\S/,
        Description => 'BOUNCER_WEBHOOK_PASSWORD (default: the environment variable of that name).' );
    $Self->AddOption( %Option, Name => 'webhook-token', ValueRegex => qr/.*/,
        Description => 'BOUNCER_WEBHOOK_TOKEN, sent as X-Webhook-Token (default: the environment variable).' );
    $Self->AddOption( %Option, Name => 'asynchronous', HasValue => 0,
        Description => "Call the bouncer from Znuny's daemon instead of during the mail import." );
    $Self->AddOption( %Option, Name => 'no-retry', HasValue => 0,
        Description => 'Do not retry failed calls (default: retry, needs the Znuny daemon).' );
    $Self->AddOption( %Option, Name => 'retry-interval-start', ValueRegex => qr/\A\d+\z/,
        Description => 'Seconds before the first retry (default 60).' );
    $Self->AddOption( %Option, Name => 'retry-interval-factor', ValueRegex => qr/\A(1|1\.5|2)\z/,
        Description => 'Each further interval is the last one times 1, 1.5 or 2 (default 2).' );
    $Self->AddOption( %Option, Name => 'retry-interval-max', ValueRegex => qr/\A\d+\z/,
        Description => 'Longest interval between retries in seconds (default 3600).' );
    $Self->AddOption( %Option, Name => 'retry-count-max', ValueRegex => qr/\A\d+\z/,
        Description => 'Retries at most (default 10).' );
    $Self->AddOption( %Option, Name => 'retry-period-max', ValueRegex => qr/\A\d+\z/,
        Description => 'No retry later than this many seconds after the first call (default 86400).' );
    $Self->AddOption( %Option, Name => 'timeout', ValueRegex => qr/\A\d+\z/,
        Description => 'Seconds Znuny waits for the bouncer (default 30).' );
    $Self->AddOption( %Option, Name => 'agent-login', ValueRegex => qr/\S/,
        Description => 'Also create the agent the bouncer acts as (BOUNCER_OTRS_USER) or set its password.' );
    $Self->AddOption( %Option, Name => 'agent-password', ValueRegex => qr/\S/,
        Description => "The agent's password (default: the environment variable BOUNCER_OTRS_PASSWORD)." );
    $Self->AddOption( %Option, Name => 'agent-group', Multiple => 1, ValueRegex => qr/\S/,
        Description => 'Groups the agent gets rw on: those of the queues where customer mail arrives (default: users).' );
    return;
}

sub Run {
    my ( $Self, %Param ) = @_;

    my $Kit = $Kernel::OM->Get('Kernel::System::OTRSBouncer');

    my $Password = $Self->GetOption('webhook-password') // $ENV{BOUNCER_WEBHOOK_PASSWORD};
    if ( !defined $Password || $Password eq '' ) {
        $Self->PrintError('Need --webhook-password (or the environment variable BOUNCER_WEBHOOK_PASSWORD).');
        return $Self->ExitCodeError();
    }
    my $Token = $Self->GetOption('webhook-token') // $ENV{BOUNCER_WEBHOOK_TOKEN} // '';

    $Self->Print("<yellow>Creating dynamic fields, PostMaster filters, PostmasterX-Header entries, web service...</yellow>\n");
    if ( !$Kit->Install() ) {
        $Self->PrintError('Creating failed; see the system log (Admin -> System Log).');
        return $Self->ExitCodeError();
    }

    my $Retry;
    if ( !$Self->GetOption('no-retry') ) {
        $Retry = {
            IntervalStart  => $Self->GetOption('retry-interval-start'),
            IntervalFactor => $Self->GetOption('retry-interval-factor'),
            IntervalMax    => $Self->GetOption('retry-interval-max'),
            CountMax       => $Self->GetOption('retry-count-max'),
            PeriodMax      => $Self->GetOption('retry-period-max'),
        };
    }
    my $Async = $Self->GetOption('asynchronous') ? 1 : 0;
    $Self->Print("<yellow>Connecting the web service BounceWebhook to " . $Self->GetOption('url') . "...</yellow>\n");
    my $Configured = $Kit->Configure(
        URL             => $Self->GetOption('url'),
        WebhookUser     => $Self->GetOption('webhook-user'),
        WebhookPassword => $Password,
        WebhookToken    => $Token,
        Asynchronous    => $Async,
        Retry           => $Retry,
        Timeout         => $Self->GetOption('timeout'),
    );
    if ( !$Configured ) {
        $Self->PrintError('Configuring the web service failed; see the system log.');
        return $Self->ExitCodeError();
    }

    if ( my $Login = $Self->GetOption('agent-login') ) {
        my $AgentPassword = $Self->GetOption('agent-password') // $ENV{BOUNCER_OTRS_PASSWORD};
        if ( !defined $AgentPassword || $AgentPassword eq '' ) {
            $Self->PrintError('Need --agent-password (or BOUNCER_OTRS_PASSWORD) with --agent-login.');
            return $Self->ExitCodeError();
        }
        my $Groups = $Self->GetOption('agent-group');
        $Self->Print("<yellow>Agent $Login...</yellow>\n");
        if ( !$Kit->AgentSet( Login => $Login, Password => $AgentPassword, Groups => $Groups ) ) {
            $Self->PrintError("Setting up the agent $Login failed; see the system log.");
            return $Self->ExitCodeError();
        }
    }

    $Self->Print( "Invoker: " . ( $Async ? 'asynchronous (Znuny daemon)' : 'synchronous (during the mail import)' )
            . ", retries: " . ( $Retry ? 'on (Znuny daemon)' : 'off' ) . "\n" );
    $Self->Print("<green>Done.</green>\n");
    return $Self->ExitCodeOk();
}

1;
