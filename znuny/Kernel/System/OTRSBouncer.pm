# --
# otrs-bouncer: the Znuny side as one unit (package OTRSBouncer).
# License: AGPL-3.0 (see the otrs-bouncer repository).
# --

package Kernel::System::OTRSBouncer;

use strict;
use warnings;

use Kernel::System::VariableCheck qw(:all);

our @ObjectDependencies = (
    'Kernel::Config',
    'Kernel::System::DynamicField',
    'Kernel::System::GenericInterface::Webservice',
    'Kernel::System::Group',
    'Kernel::System::Log',
    'Kernel::System::Main',
    'Kernel::System::PostMaster::Filter',
    'Kernel::System::User',
    'Kernel::System::YAML',
    'Kernel::System::ZnunyHelper',
);

=head1 NAME

Kernel::System::OTRSBouncer - create, connect and remove what otrs-bouncer needs in Znuny

=head1 DESCRIPTION

What the package installs (C<Install>) and removes (C<Uninstall>), and what the console
command Admin::OTRSBouncer::Setup connects (C<Configure>, C<AgentSet>). The definitions
live beside this module's package in var/otrs-bouncer/: dynamic-fields.yml,
postmaster-filters.yml and BounceWebhook.yml. Every step is idempotent: what exists is
left as it is (the web service's URL and credentials are set by C<Configure> only).

=cut

# The web service's name; the bouncer's BOUNCER_OTRS_WEBSERVICE.
our $Webservice = 'BounceWebhook';
our $Invoker    = 'ArticleCreateWebhook';
our $RetryName  = 'RetryWhileBouncerDown';

# Headers our filters match that Znuny 7 does not list in PostmasterX-Header by default
# (Precedence, Return-Path and Auto-Submitted are there already). Only these are removed again.
our @Headers = qw(
    X-Autoreply X-Autorespond X-Auto-Response-Suppress X-MS-Exchange-Inbox-Rules-Loop X-Failed-Recipients
);

sub new {
    my ( $Type, %Param ) = @_;
    my $Self = {};
    bless( $Self, $Type );
    return $Self;
}

sub _Log {
    my ( $Self, $Priority, $Message ) = @_;
    $Kernel::OM->Get('Kernel::System::Log')->Log( Priority => $Priority, Message => "OTRSBouncer: $Message" );
    return;
}

# The parsed YAML of one of our definition files.
sub _Definition {
    my ( $Self, $File ) = @_;
    my $Home    = $Kernel::OM->Get('Kernel::Config')->Get('Home');
    my $Content = $Kernel::OM->Get('Kernel::System::Main')->FileRead(
        Location => "$Home/var/otrs-bouncer/$File",
        Mode     => 'utf8',
    );
    if ( !$Content ) {
        $Self->_Log( 'error', "cannot read $Home/var/otrs-bouncer/$File" );
        return;
    }
    return $Kernel::OM->Get('Kernel::System::YAML')->Load( Data => ${$Content} );
}

# Our web service's ID, Name, Config and ValidID; undef when there is none (WebserviceGet then answers {}).
sub _WebserviceData {
    my ( $Self, %Param ) = @_;
    my $Data = $Kernel::OM->Get('Kernel::System::GenericInterface::Webservice')->WebserviceGet( Name => $Webservice );
    return IsHashRefWithData($Data) && $Data->{ID} ? $Data : undef;
}

=head2 Install()

Creates what is missing: the dynamic fields, the PostMaster filters, the PostmasterX-Header
entries (one SysConfig deployment, only when an entry was missing) and the web service
(with CHANGE-ME placeholders until C<Configure> runs). Returns 1 on success.

=cut

sub Install {
    my ( $Self, %Param ) = @_;

    my $Helper = $Kernel::OM->Get('Kernel::System::ZnunyHelper');

    my $Fields = $Self->_Definition('dynamic-fields.yml') || return;
    my @Fields = map { $Fields->{DynamicFields}->{$_} } sort keys %{ $Fields->{DynamicFields} || {} };
    return $Self->_Log( 'error', 'creating the dynamic fields failed' )
        if !$Helper->_DynamicFieldsCreateIfNotExists(@Fields);

    my $Filters = $Self->_Definition('postmaster-filters.yml') || return;
    return $Self->_Log( 'error', 'creating the PostMaster filters failed' )
        if !$Helper->_PostMasterFilterCreateIfNotExists( @{$Filters} );

    my %Listed  = map { $_ => 1 } @{ $Kernel::OM->Get('Kernel::Config')->Get('PostmasterX-Header') || [] };
    my @Missing = grep { !$Listed{$_} } @Headers;
    if (@Missing) {
        return $Self->_Log( 'error', 'adding to PostmasterX-Header failed' )
            if !$Helper->_PostmasterXHeaderAdd( Header => \@Missing );
    }

    my $WebserviceObject = $Kernel::OM->Get('Kernel::System::GenericInterface::Webservice');
    my $Config           = $Self->_Definition("$Webservice.yml") || return;
    my $Existing         = $Self->_WebserviceData();
    if ( !$Existing ) {
        return $Self->_Log( 'error', "creating the web service $Webservice failed" ) if !$WebserviceObject->WebserviceAdd(
            Name    => $Webservice,
            Config  => $Config,
            ValidID => 1,
            UserID  => 1,
        );
        return 1;
    }

    # An existing web service (an earlier version of the kit) gets the provider operations it lacks.
    my $Provider = $Existing->{Config}->{Provider} ||= {};
    my $Routes   = $Provider->{Transport}->{Config}->{RouteOperationMapping} ||= {};
    my $Added    = 0;
    for my $Operation ( sort keys %{ $Config->{Provider}->{Operation} || {} } ) {
        next if $Provider->{Operation}->{$Operation};
        $Provider->{Operation}->{$Operation} = $Config->{Provider}->{Operation}->{$Operation};
        $Routes->{$Operation} = $Config->{Provider}->{Transport}->{Config}->{RouteOperationMapping}->{$Operation};
        $Added++;
    }
    return 1 if !$Added;
    return $WebserviceObject->WebserviceUpdate(
        ID      => $Existing->{ID},
        Name    => $Webservice,
        Config  => $Existing->{Config},
        ValidID => $Existing->{ValidID},
        UserID  => 1,
    ) || $Self->_Log( 'error', "adding provider operations to $Webservice failed" );
}

=head2 Configure()

Points the web service's requester at the bouncer and sets how it calls:

    $Kit->Configure(
        URL             => 'https://bouncer.example',   # the bouncer's base URL, no path
        WebhookUser     => 'webhook',                   # BOUNCER_WEBHOOK_USER
        WebhookPassword => '...',                       # BOUNCER_WEBHOOK_PASSWORD
        WebhookToken    => '...',                       # optional BOUNCER_WEBHOOK_TOKEN; '' removes the header
        Asynchronous    => 0,                           # 1: the daemon calls the bouncer, the mail import does not wait
        Retry           => {                            # Znuny's RequestRetry error handling; undef: no retries
            IntervalStart => 60, IntervalFactor => 2, IntervalMax => 3600, CountMax => 10, PeriodMax => 86400,
        },
        Timeout         => 30,                          # optional, seconds
    );

Returns 1 on success.

=cut

sub Configure {
    my ( $Self, %Param ) = @_;

    for my $Needed (qw(URL WebhookPassword)) {
        return $Self->_Log( 'error', "Configure needs $Needed" ) if !IsStringWithData( $Param{$Needed} );
    }
    return $Self->_Log( 'error', "URL must start with http:// or https://" ) if $Param{URL} !~ m{\Ahttps?://}i;

    my $WebserviceObject = $Kernel::OM->Get('Kernel::System::GenericInterface::Webservice');
    my $Data             = $Self->_WebserviceData()
        || return $Self->_Log( 'error', "no web service $Webservice: install the package first" );
    my $Config = $Data->{Config};

    my $Transport = $Config->{Requester}->{Transport}->{Config};
    ( $Transport->{Host} = $Param{URL} ) =~ s{/+\z}{};
    $Transport->{Authentication} = {
        AuthType          => 'BasicAuth',
        BasicAuthUser     => $Param{WebhookUser} || 'webhook',
        BasicAuthPassword => $Param{WebhookPassword},
    };
    if ( IsStringWithData( $Param{WebhookToken} ) ) {
        $Transport->{AdditionalHeaders} = { 'X-Webhook-Token' => $Param{WebhookToken} };
    }
    else {
        delete $Transport->{AdditionalHeaders};
    }
    $Transport->{Timeout} = $Param{Timeout} if $Param{Timeout};

    for my $Event ( @{ $Config->{Requester}->{Invoker}->{$Invoker}->{Events} || [] } ) {
        $Event->{Asynchronous} = $Param{Asynchronous} ? '1' : '0';
    }

    my $Retry = $Param{Retry};
    my $ErrorHandling = $Config->{Requester}->{ErrorHandling}->{$RetryName} ||= {
        Description               => "Retry $Invoker calls that failed",
        ErrorMessageContentFilter => '',
        ErrorMessageRegExFilter   => '',
        ErrorStageFilter          => ['RequesterRequestPerform'],
        InvokerFilter             => [$Invoker],
        StopAfterMatch            => '',
        Type                      => 'RequestRetry',
    };
    $ErrorHandling->{ScheduleRetry} = $Retry ? '1' : '0';
    if ($Retry) {
        $ErrorHandling->{RetryIntervalStart}  = '' . ( $Retry->{IntervalStart}  // 60 );
        $ErrorHandling->{RetryIntervalFactor} = '' . ( $Retry->{IntervalFactor} // 2 );
        $ErrorHandling->{RetryIntervalMax}    = '' . ( $Retry->{IntervalMax}    // 3600 );
        $ErrorHandling->{RetryCountMax}       = '' . ( $Retry->{CountMax}       // 10 );
        $ErrorHandling->{RetryPeriodMax}      = '' . ( $Retry->{PeriodMax}      // 86400 );
    }
    my $Priority = $Config->{Requester}->{ErrorHandlingPriority} ||= [];
    push @{$Priority}, $RetryName if !grep { $_ eq $RetryName } @{$Priority};

    return $WebserviceObject->WebserviceUpdate(
        ID      => $Data->{ID},
        Name    => $Webservice,
        Config  => $Config,
        ValidID => 1,
        UserID  => 1,
    ) || $Self->_Log( 'error', "updating the web service $Webservice failed" );
}

=head2 AgentSet()

Creates the agent the bouncer acts as (or sets its password) and gives it rw on the groups:

    $Kit->AgentSet( Login => 'otrs-bouncer', Password => '...', Groups => ['users'] );

Returns the agent's UserID.

=cut

sub AgentSet {
    my ( $Self, %Param ) = @_;

    for my $Needed (qw(Login Password)) {
        return $Self->_Log( 'error', "AgentSet needs $Needed" ) if !IsStringWithData( $Param{$Needed} );
    }
    my $UserObject  = $Kernel::OM->Get('Kernel::System::User');
    my $GroupObject = $Kernel::OM->Get('Kernel::System::Group');

    my $UserID = $UserObject->UserLookup( UserLogin => $Param{Login}, Silent => 1 );
    if ( !$UserID ) {
        $UserID = $UserObject->UserAdd(
            UserFirstname => 'Bounce',
            UserLastname  => 'detector',
            UserLogin     => $Param{Login},
            UserPw        => $Param{Password},
            UserEmail     => $Param{Email} || "$Param{Login}\@localhost",
            ValidID       => 1,
            ChangeUserID  => 1,
        ) || return $Self->_Log( 'error', "creating the agent $Param{Login} failed" );
    }
    else {
        $UserObject->SetPassword( UserLogin => $Param{Login}, PW => $Param{Password} )
            || return $Self->_Log( 'error', "setting the password of $Param{Login} failed" );
    }
    for my $Group ( @{ $Param{Groups} || ['users'] } ) {
        my $GroupID = $GroupObject->GroupLookup( Group => $Group )
            || return $Self->_Log( 'error', "no group $Group" );
        $GroupObject->PermissionGroupUserAdd(
            GID        => $GroupID,
            UID        => $UserID,
            Permission => { ro => 1, move_into => 1, create => 1, owner => 0, priority => 0, note => 1, rw => 1 },
            UserID     => 1,
        ) || return $Self->_Log( 'error', "linking $Param{Login} to $Group failed" );
    }
    return $UserID;
}

=head2 Uninstall()

Removes the web service, our PostMaster filters, our PostmasterX-Header entries and, unless
C<KeepDynamicFields> is given, the dynamic fields with all their values. The agent stays.

=cut

sub Uninstall {
    my ( $Self, %Param ) = @_;

    my $Helper = $Kernel::OM->Get('Kernel::System::ZnunyHelper');
    my $Ok     = 1;

    $Ok = 0 if !$Helper->_WebserviceDelete( Webservices => { $Webservice => 1 } );

    my $FilterObject = $Kernel::OM->Get('Kernel::System::PostMaster::Filter');
    my %Existing     = $FilterObject->FilterList();
    my $Filters      = $Self->_Definition('postmaster-filters.yml') || [];
    for my $Filter ( @{$Filters} ) {
        next if !$Existing{ $Filter->{Name} };
        $Ok = 0 if !$FilterObject->FilterDelete( Name => $Filter->{Name} );
    }

    my %Listed = map { $_ => 1 } @{ $Kernel::OM->Get('Kernel::Config')->Get('PostmasterX-Header') || [] };
    my @Ours   = grep { $Listed{$_} } @Headers;
    $Ok = 0 if @Ours && !$Helper->_PostmasterXHeaderRemove( Header => \@Ours );

    if ( !$Param{KeepDynamicFields} ) {
        my $Fields = $Self->_Definition('dynamic-fields.yml') || {};
        $Ok = 0 if !$Helper->_DynamicFieldsDelete( sort keys %{ $Fields->{DynamicFields} || {} } );
    }
    $Self->_Log( 'error', 'removal incomplete' ) if !$Ok;
    return $Ok;
}

1;
